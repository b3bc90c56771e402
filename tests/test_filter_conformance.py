"""``bellwatch filter`` against the AWS filter pattern pages, through the CLI, over one file
that mixes JSON events and text lines.

The examples and their documented results come from the AWS pages "Filter pattern syntax
for metric filters, subscription filters, filter log events, and Live Tail" and its
sections on unstructured, JSON and space-delimited log events and on regular expressions
(the current pages, as far as the documentation search returned them, and the archived
user-guide edition ``FilterAndPatternSyntax.md`` in full), plus the selector forms the
current JSON page adds (``$.*``, ``$.a[*]``, bracket keys). Each documented log event is
one line of ``mixed.jsonl``; JSON events are written compact, as loggers write them. Each
row says which lines a pattern must return: the documented ones, and no other line of the
file (a term pattern also sees the text of JSON lines, as CloudWatch does; a JSON pattern
never matches a text line).
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from bellwatch.cli import cli

TEXT = {
    "T1": "[ERROR 400] BAD REQUEST",
    "T2": "[ERROR 401] UNAUTHORIZED REQUEST",
    "T3": "[ERROR 419] MISSING ARGUMENTS",
    "T4": "[ERROR 420] INVALID ARGUMENTS",
    "T5": "[ERROR] A fatal exception has occurred",
    "T6": "Exiting with ERRORCODE: -1",
    "T7": "[ERROR] Caught IllegalArgumentException",
    "T8": "[ERROR] Unhandled Exception",
    "T9": "[WARN] Failed to process the request",
    "T10": "[ERROR] Unable to continue: Failed to process the request",
    "T11": "ERROR WARN message",
    "T12": "ERROR message",
    "T13": "WARN message",
    "T14": "[SUCCESS 200] AUTHORIZED REQUEST",
    "T15": "[ERROR 500] INTERNAL SERVER ERROR",
    "A1": '127.0.0.1 Prod frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534',
    "A2": '127.0.0.1 - frank [10/Oct/2000:13:35:22 -0700] "GET /apache_pb.gif HTTP/1.0" 500 5324',
    "A3": '127.0.0.1 - frank [10/Oct/2000:13:50:35 -0700] "GET /apache_pb.gif HTTP/1.0" 200 4355',
}
JSON = {
    # "Matching terms in JSON log events": the example event (with the current page's
    # key that needs a bracket selector)
    "J1": {
        "eventType": "UpdateTrail",
        "sourceIPAddress": "111.111.111.111",
        "arrayKey": ["value", "another value"],
        "objectList": [{"name": "a", "id": 1}, {"name": "b", "id": 2}],
        "SomeObject": None,
        "cluster.name": "c1",
        "ThisFlag": True,
    },
    # "JSON compound conditions": the example object
    "J2": {
        "user": {"id": 1, "email": "John.Stiles@example.com"},
        "users": [
            {"id": 2, "email": "John.Doe@example.com"},
            {"id": 3, "email": "Jane.Doe@example.com"},
        ],
        "actions": ["GET", "PUT", "DELETE"],
        "coordinates": [[0, 1, 2], [4, 5, 6], [7, 8, 9]],
    },
    # "OR pattern matching" in JSON filters
    "J3": {"foo": "bar"},
    "J4": {"foo": "baz"},
    # "Publishing numerical values found in log entries"
    "J5": {"latency": 50, "requestType": "GET"},
}
ALL = [*TEXT, *JSON]
ERROR = ["T1", "T2", "T3", "T4", "T5", "T6", "T7", "T8", "T10", "T11", "T12", "T15"]


def but(ids: list[str], *left_out: str) -> list[str]:
    return [i for i in ids if i not in left_out]


CASES = [
    # --- terms (unstructured log events)
    ("ERROR", ERROR),
    ("ERROR ARGUMENTS", ["T3", "T4"]),
    ("?ERROR ?ARGUMENTS", ERROR),
    ('"INTERNAL SERVER ERROR"', ["T15"]),
    ("ERROR -ARGUMENTS", but(ERROR, "T3", "T4")),
    ('" "', ALL),
    ("ERROR -Exiting", but(ERROR, "T6")),
    ("ERROR Exception", ["T7", "T8"]),
    ('"Failed to process the request"', ["T9", "T10"]),
    ("Failed to process the request", ["T9", "T10"]),
    ("?ERROR ?WARN", [*ERROR[:8], "T9", "T10", "T11", "T12", "T13", "T15"]),
    ("ERROR WARN", ["T11"]),
    ("ERROR -WARN", but(ERROR, "T11")),
    # --- regular expressions (standalone, spaces included)
    ("%AUTHORIZED%", ["T2", "T14"]),
    ("%ERROR 4[0-9]{2}%", ["T1", "T2", "T3", "T4"]),
    ("%[Ee]rror|[Ff]ail%", ["T9", "T10"]),
    ("%\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}%", ["A1", "A2", "A3", "J1"]),
    # --- JSON log events
    ('{ $.eventType = "UpdateTrail" }', ["J1"]),
    ("{ $.sourceIPAddress != 123.123.* }", ["J1"]),
    ('{ $.arrayKey[0] = "value" }', ["J1"]),
    ("{ $.objectList[1].id = 2 }", ["J1"]),
    ("{ $.SomeObject IS NULL }", ["J1"]),
    ("{ $.SomeOtherObject NOT EXISTS }", list(JSON)),
    ("{ $.ThisFlag IS TRUE }", ["J1"]),
    ('{ $.* = "UpdateTrail" }', ["J1"]),
    ('{ $.arrayKey[*] = "another value" }', ["J1"]),
    ('{ $.objectList[*].name = "b" }', ["J1"]),
    ("{ $.['cluster.name'] = \"c1\" }", ["J1"]),
    ("{ $.eventType = %Update[A-Z]% }", ["J1"]),
    ('{ ($.user.id = 1) && ($.users[0].email = "John.Doe@example.com") }', ["J2"]),
    ('{ ($.user.id = 2 && $.users[0].email = "nonmatch") || $.actions[2] = "GET" }', []),
    (
        '{ $.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = nonmatch'
        " && $.actions[2] = nomatch }",
        ["J2"],
    ),
    (
        '{ ($.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = nonmatch)'
        " && $.actions[2] = nomatch }",
        [],
    ),
    ('{ $.users[*].email = "Jane.Doe@example.com" }', ["J2"]),
    ("{$.foo = bar}", ["J3"]),
    ("{$.foo = baz }", ["J4"]),
    ("{$.foo = bar || $.foo = baz }", ["J3", "J4"]),
    ("{ $.latency = * }", ["J5"]),
    ("{ $.latency >= 50 }", ["J5"]),
    ("{ $.latency > +1000 }", []),
    ("{ $.latency < 10e3 }", ["J5"]),
    # --- space-delimited log events: "[ERROR]" is one field whose value is ERROR (the
    # page's extracted fields drop the brackets), and the last field takes the rest
    ("[w1=ERROR, w2]", ["T5", "T7", "T8", "T10", "T11", "T12"]),
    ("[w1=ERROR || w1=WARN, w2]", ["T5", "T7", "T8", "T9", "T10", "T11", "T12", "T13"]),
    ("[ip, user, username, timestamp, request =*.html*, status_code = 4*, bytes]", ["A1"]),
    ("[ip, user, username, timestamp, request, status_code, bytes > 1000]", ["A1", "A2", "A3"]),
    ("[ip, user, username, timestamp, request, status_code = 200, bytes]", ["A3"]),
    # no condition: every line with at least four fields
    ("[ip, user, ..., status_code, bytes]", ["T5", "T6", "T9", "T10", "T15", "A1", "A2", "A3"]),
    ("[..., status_code = 5*, bytes]", ["A2"]),
    (
        "[ip, user, username, timestamp, request, status_code = 4* && status_code != 403, bytes]",
        ["A1"],
    ),
    (
        "[ip, user, username, timestamp, request =*.html*, status_code = 404 || status_code"
        " = 410, bytes]",
        ["A1"],
    ),
]


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The documented events, one a line; and which id each raw line is."""
    lines = {**TEXT, **{k: orjson.dumps(v).decode() for k, v in JSON.items()}}
    path = tmp_path_factory.mktemp("conformance") / "mixed.jsonl"
    path.write_text("".join(line + "\n" for line in lines.values()))
    return path, {line: key for key, line in lines.items()}


@pytest.mark.parametrize(("pattern", "expected"), CASES, ids=[c[0] for c in CASES])
def test_filter_returns_the_documented_lines(
    mixed: tuple[Path, dict[str, str]], pattern: str, expected: list[str]
) -> None:
    """``bellwatch filter PATTERN`` returns exactly the documented lines of the mixed file."""
    path, ids = mixed
    result = CliRunner().invoke(cli, ["filter", pattern, "-l", str(path), "--json"])
    assert result.exit_code == 0, result.output
    got = [ids[_original(line)] for line in result.stdout.splitlines()]
    assert got == expected


def _original(printed: str) -> str:
    """The log line a --json output line stands for: a text line comes as {"text": ...}."""
    parsed = orjson.loads(printed)
    return parsed["text"] if list(parsed) == ["text"] else printed


def test_text_lines_are_counted_once(mixed: tuple[Path, dict[str, str]]) -> None:
    """A filter over the mixed file says how many of its events were text lines."""
    path, _ = mixed
    result = CliRunner().invoke(cli, ["filter", "ERROR", "-l", str(path)])
    assert result.stderr.strip() == f"bellwatch: {len(TEXT)} text lines (not JSON) among 23 events"
