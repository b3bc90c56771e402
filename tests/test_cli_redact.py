"""The CLI's redaction: safe_text, JSON at any depth, records' own lines, the settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from bellwatch.cli import cli
from bellwatch.cli._redact import record_line, scrub_json
from bellwatch.cli.output import format_record, safe_text
from bellwatch.sources.base import LOG, LOG_STREAM, MESSAGE, TIMESTAMP, TextRecord
from secrets_table import CASES, KEYED, TEXTS, Case

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk"
KEYED_CASES = [c for c in CASES if c.context == "kwargs"]

json_leaves = st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=20)
json_values = st.recursive(
    json_leaves,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)


def record(fields: dict[str, Any]) -> dict[str, Any]:
    """A record as the reader makes it from ``fields``' own compact line."""
    line = orjson.dumps(fields).decode()
    return {**fields, TIMESTAMP: 1, MESSAGE: line, LOG_STREAM: "app.jsonl", LOG: "logs"}


class TestSafeText:
    @given(st.sampled_from(TEXTS), st.text(max_size=40), st.text(max_size=40), st.integers(0, 300))
    def test_a_secret_never_shows_whatever_the_cut(
        self, case: tuple[str, tuple[str, ...]], before: str, after: str, limit: int
    ) -> None:
        """Masking runs on the whole value before the cut: no part of a secret shows."""
        text, hidden = case
        out = safe_text(f"{before} {text} {after}", limit)
        escaped = safe_text(f"{before} {text} {after}")
        for part in hidden:
            assert part not in out and part not in escaped

    def test_masks_then_escapes(self) -> None:
        """A secret is masked and a control character beside it still shown escaped."""
        assert safe_text(f"\x1b[2J Bearer {JWT}\n") == "\\x1b[2J Bearer ***\\n"

    def test_values_the_tools_need_are_unchanged(self) -> None:
        """Ids, hashes, routes, durations and times pass as they are."""
        text = "GET /api/users/{user_id} 503 in 0.038s cid=3f9a1c7e2b4d hash 6aca4327 at 02:03:55"
        assert safe_text(text) == text


class TestScrubJson:
    @given(json_values, st.sampled_from(KEYED_CASES), st.integers(0, 6))
    def test_a_keyed_secret_at_any_depth_never_shows(
        self, noise: Any, case: Case, depth: int
    ) -> None:
        """A secret under its key, nested as deep as you like beside anything, is masked."""
        data: Any = {case.key: case.value, "noise": noise}
        for i in range(depth):
            data = {f"level{i}": [data, noise]}
        out = orjson.dumps(scrub_json(data)).decode()
        for part in case.hidden:
            assert part not in out

    def test_plain_json_is_unchanged(self) -> None:
        """JSON without secrets comes back equal (keys, order, types), however deep."""
        plain = {"a": {"b": {"c": {"d": {"e": {"f": ["/health", 200, 0.5, None, True]}}}}}}
        assert orjson.dumps(scrub_json(plain)) == orjson.dumps(plain)

    @given(json_values)
    def test_masking_twice_changes_nothing(self, data: Any) -> None:
        """What is masked stays as it is when masked again (the CLI masks reports twice)."""
        once = scrub_json(data)
        assert orjson.dumps(scrub_json(once)) == orjson.dumps(once)

    def test_pairs_and_embedded_json_are_masked(self) -> None:
        """Headers as ``[name, value]`` pairs, and a string holding JSON, are read by key."""
        data = {
            "headers": [["x-api-key", "ak-Qp18-apikeyvalue"], ["accept", "*/*"]],
            "@message": '{"event":"x","clientSecret":"cs-Ut54-clientsecret"}',
        }
        out = scrub_json(data)
        assert out["headers"] == [["x-api-key", "***"], ["accept", "*/*"]]
        assert orjson.loads(out["@message"]) == {"event": "x", "clientSecret": "***"}

    def test_computed_numbers_can_be_left_alone(self) -> None:
        """A large int that looks like a card is masked, unless the numbers are ours."""
        card = 4111111111111111
        assert scrub_json({"n": card}) == {"n": "***1111"}
        assert scrub_json({"n": card, "token": "t-1234abcd"}, numbers=False) == {
            "n": card,
            "token": "***",
        }


class TestRecordLine:
    def test_a_clean_line_is_its_own_bytes(self) -> None:
        """No secret: the line exactly as read, spacing and number forms included."""
        line = '{"ts": 1, "event":"x",  "took": 1.50, "n": 1e2}'
        rec = {"ts": 1, "event": "x", "took": 1.5, "n": 100.0, MESSAGE: line, TIMESTAMP: 1}
        assert record_line(rec) == line.encode()

    @pytest.mark.parametrize("case", KEYED_CASES, ids=lambda c: c.id)
    def test_a_secret_is_masked_keeping_keys_and_order(self, case: Case) -> None:
        """The same keys in the same order, the secret's value masked."""
        fields = {"ts": 1, "event": "login", case.key: case.value, "status": 200}
        out = orjson.loads(record_line(record(fields)))
        assert list(out) == list(fields) and out["status"] == 200
        assert all(part not in orjson.dumps(out).decode() for part in case.hidden)

    def test_a_text_line_is_masked_by_value(self) -> None:
        """A line that is not JSON goes through the value rules."""
        rec = TextRecord({MESSAGE: f"auth Bearer {JWT} failed", TIMESTAMP: 1})
        assert record_line(rec) == b"auth Bearer *** failed"

    def test_readable_lines_mask_by_key(self) -> None:
        """The readable form masks a value under a secret key, shapeless as it is."""
        shown = format_record(record({"event": "login", "pwd": "pwd-Zq81-secret"}), False)
        assert "pwd=***" in shown and "Zq81" not in shown


class TestSettings:
    def test_redact_keys_reach_the_cli(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """BELLWATCH_REDACT_KEYS masks a key of the app's own in every command's output."""
        log = tmp_path / "app.jsonl"
        log.write_bytes(orjson.dumps({"ts": 1, "event": "signup", "nickname": "zorro-77"}) + b"\n")
        args = ["-l", str(log), "--no-cache"]
        assert "zorro-77" in CliRunner().invoke(cli, ["tail", *args]).stdout
        monkeypatch.setenv("BELLWATCH_REDACT_KEYS", "nickname")
        for command in (["tail"], ["tail", "--json"], ["insights", "fields nickname"]):
            result = CliRunner().invoke(cli, [*command, *args])
            assert result.exit_code == 0 and "zorro-77" not in result.stdout, command

    def test_every_keyed_secret_is_a_secret_key(self) -> None:
        """The table's keys are all secret to the CLI as they are to the pipeline."""
        for key, value, _ in KEYED:
            out = scrub_json({key: value})
            assert out[key] != value, key
