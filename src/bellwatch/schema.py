"""The one table of event and field names.

The logger, the middleware, the error aggregator, the CLI, the CloudWatch metric
filters and the README all take names from here. Keys are short where the
200-character line budget needs it; ``guide`` gives the name the monitoring
guide used for the same fact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "CORE_FIELDS",
    "EVENTS",
    "FIELDS",
    "LEVELS",
    "Ev",
    "EventSpec",
    "F",
    "FieldSpec",
    "Sev",
    "markdown_table",
]


class F:
    """Field (JSON key) names."""

    TS: Final = "ts"
    LEVEL: Final = "level"
    EVENT: Final = "event"
    CID: Final = "cid"
    LOGGER: Final = "logger"
    METHOD: Final = "method"
    PATH: Final = "path"
    STATUS: Final = "status"
    DURATION: Final = "duration"
    USER_ID: Final = "uid"
    SESSION_ID: Final = "sid"
    ERROR_HASH: Final = "hash"
    ERROR_TYPE: Final = "type"
    MESSAGE: Final = "msg"
    SEVERITY: Final = "sev"
    COUNT: Final = "count"
    OCCURRENCES: Final = "n"
    WINDOW: Final = "window"
    EXC: Final = "exc"
    STACK: Final = "stack"
    ESCALATED: Final = "escalated"
    CLOSE_CODE: Final = "code"
    MESSAGES_IN: Final = "in"
    MESSAGES_OUT: Final = "out"
    CHANNEL: Final = "channel"
    CHECK: Final = "check"
    DROPPED: Final = "_dropped"


class Ev:
    """Event names written by bellwatch (an app's own events are free text)."""

    REQUEST: Final = "request_complete"
    WEBSOCKET: Final = "websocket_complete"
    ERROR: Final = "error"
    AGGREGATED_ERROR: Final = "aggregated_error"
    ERROR_ESCALATED: Final = "error_escalated"
    ALERT_FIRED: Final = "alert_fired"
    ALERT_FAILED: Final = "alert_failed"
    CID_INVALID: Final = "cid_invalid"
    AUTH_FAILED: Final = "auth_failed"
    HEALTH_FAILED: Final = "health_check_failed"
    STORE_DEGRADED: Final = "store_degraded"
    STORE_RECOVERED: Final = "store_recovered"
    STORE_RESENT: Final = "store_resent"
    TWILIO_WEBHOOK: Final = "twilio_webhook_start"
    SIGNATURE_FAILED: Final = "signature_validation_failed"
    BOOKING_CREATED: Final = "booking_created"
    BOOKING_FAILED: Final = "booking_failed"


class Sev:
    """Error severities, lowest first."""

    LOW: Final = "low"
    MEDIUM: Final = "medium"
    HIGH: Final = "high"
    CRITICAL: Final = "critical"
    ORDER: Final = ("low", "medium", "high", "critical")


LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# Never dropped by the line budget (shortened only as a last resort).
CORE_FIELDS: Final = (F.TS, F.LEVEL, F.EVENT, F.CID, F.ERROR_HASH, F.OCCURRENCES)


@dataclass(frozen=True, slots=True)
class FieldSpec:
    key: str
    guide: str
    type: str
    meaning: str


@dataclass(frozen=True, slots=True)
class EventSpec:
    name: str
    level: str
    meaning: str


FIELDS: Final = (
    FieldSpec(F.TS, "timestamp", "int", "Unix epoch milliseconds (or ISO 8601 with timestamp=iso)"),
    FieldSpec(F.LEVEL, "level", "str", "DEBUG, INFO, WARNING, ERROR or CRITICAL"),
    FieldSpec(F.EVENT, "event", "str", "event name (below) or the app's free-text message"),
    FieldSpec(F.CID, "correlation_id", "str", "correlation id of the request (12 hex when ours)"),
    FieldSpec(F.LOGGER, "-", "str", "stdlib logger name, for records from other libraries"),
    FieldSpec(F.METHOD, "method", "str", "HTTP method"),
    FieldSpec(F.PATH, "endpoint", "str", "route template, e.g. /api/users/{user_id}"),
    FieldSpec(F.STATUS, "status_code", "int", "HTTP status sent"),
    FieldSpec(F.DURATION, "duration", "float", "seconds from request start to response end"),
    FieldSpec(F.USER_ID, "user_id", "str", "user id, when the app binds one"),
    FieldSpec(F.SESSION_ID, "-", "str", "session key, e.g. a Twilio CallSid"),
    FieldSpec(
        F.ERROR_HASH,
        "error_hash",
        "str",
        "error fingerprint, 8 hex; on a request line: the error recorded during that request "
        "(not an occurrence: no n), so its uid counts among the users the error affected",
    ),
    FieldSpec(F.ERROR_TYPE, "error_type", "str", "exception class name"),
    FieldSpec(F.MESSAGE, "message", "str", "exception message"),
    FieldSpec(F.SEVERITY, "severity", "str", "low, medium, high or critical"),
    FieldSpec(
        F.COUNT,
        "count",
        "int",
        "occurrences: running total (every-Nth), or since the fingerprint's last line (window)",
    ),
    FieldSpec(
        F.OCCURRENCES,
        "-",
        "int",
        "occurrences this line accounts for: a first line 1, a summary those since its "
        "process's last line (with Redis: the unclaimed ones the cluster handed it), a "
        "shutdown line the rest. A fingerprint's exact total, across processes and restarts, "
        "is the sum of n over the lines carrying its hash (a line without n: 1 if its event "
        "is error)",
    ),
    FieldSpec(F.WINDOW, "-", "int", "window mode only: seconds per window; sum these counts"),
    FieldSpec(
        F.EXC,
        "-",
        "str",
        "where it failed: the app's module:function:line frames joined by ` > `, innermost "
        "last, then the library frame that raised",
    ),
    FieldSpec(
        F.STACK,
        "-",
        "str",
        "a call with stack_info=True: the app's module:function:line frames that led to it, "
        "innermost last",
    ),
    FieldSpec(F.ESCALATED, "-", "bool", "severity was raised one level by a spike"),
    FieldSpec(F.CLOSE_CODE, "-", "int", "WebSocket close code (1011: the app raised)"),
    FieldSpec(F.MESSAGES_IN, "-", "int", "WebSocket messages received from the client"),
    FieldSpec(F.MESSAGES_OUT, "-", "int", "WebSocket messages sent to the client"),
    FieldSpec(F.CHANNEL, "-", "str", "alert channel: log, webhook or sns"),
    FieldSpec(
        F.CHECK,
        "-",
        "str",
        "what failed: a health check, the header of a cid_invalid, why for auth_failed",
    ),
    FieldSpec(F.DROPPED, "-", "int", "fields the line budget had to drop"),
)

EVENTS: Final = (
    EventSpec(Ev.REQUEST, "INFO", "one per request; WARNING when slow, ERROR on 5xx"),
    EventSpec(
        Ev.ERROR,
        "ERROR",
        "first occurrence of an error fingerprint, in full: cid, route, status, frames "
        "(within error_line_max)",
    ),
    EventSpec(Ev.AGGREGATED_ERROR, "ERROR", "every Nth occurrence (or one per window), with count"),
    EventSpec(
        Ev.ERROR_ESCALATED,
        "WARNING",
        "every-Nth mode: a spike raised severity one level (window lines say escalated)",
    ),
    EventSpec(Ev.ALERT_FIRED, "WARNING", "an in-process alert was sent"),
    EventSpec(Ev.ALERT_FAILED, "WARNING", "an alert could not be delivered after retries"),
    EventSpec(Ev.CID_INVALID, "WARNING", "an inbound correlation id was replaced"),
    EventSpec(
        Ev.AUTH_FAILED,
        "WARNING",
        "/metrics or /dashboard refused a token; at most one a minute, count says how many",
    ),
    EventSpec(Ev.HEALTH_FAILED, "WARNING", "a health check failed or timed out"),
    EventSpec(Ev.STORE_DEGRADED, "WARNING", "the shared store is unreachable; counting locally"),
    EventSpec(Ev.STORE_RECOVERED, "INFO", "the shared store is back; buffer flushed"),
    EventSpec(
        Ev.STORE_RESENT,
        "WARNING",
        "the shared store came back with older data; this process's lost updates were resent",
    ),
    EventSpec(Ev.TWILIO_WEBHOOK, "INFO", "a Twilio webhook arrived"),
    EventSpec(Ev.SIGNATURE_FAILED, "WARNING", "X-Twilio-Signature did not validate"),
    EventSpec(Ev.BOOKING_CREATED, "INFO", "demo: a booking succeeded"),
    EventSpec(Ev.BOOKING_FAILED, "INFO", "demo: a booking was refused"),
)


def markdown_table() -> str:
    """The schema as the Markdown tables shown in the README."""
    rows = ["| key | guide's name | type | meaning |", "|---|---|---|---|"]
    rows += [f"| `{f.key}` | `{f.guide}` | {f.type} | {f.meaning} |" for f in FIELDS]
    rows += ["", "| event | level | meaning |", "|---|---|---|"]
    rows += [f"| `{e.name}` | {e.level} | {e.meaning} |" for e in EVENTS]
    return "\n".join(rows)
