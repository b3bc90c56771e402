"""A short scripted scenario that logs through the pipeline and shows the output.

It plays the guide's two-request lifecycle (a Twilio voice webhook, a booking
that fails validation), a stdlib record, a secret and an oversized value, and
writes them to stdout and to ``logs/<service>.jsonl``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import bellwatch
from bellwatch import Ev, F, Sev
from bellwatch.log.context import request_scope


class ValidationError(ValueError):
    """The booking API's validation error."""


def run(service: str = "bella", log_dir: str = "logs") -> Path:
    """Play the scenario; return the log file written."""
    bellwatch.configure(service=service, log_file=True, log_dir=log_dir)
    log = bellwatch.get_logger("bella")
    with request_scope(bellwatch.new_id()):
        bellwatch.bind(**{F.SESSION_ID: "CA" + bellwatch.new_id(16)})
        log.info(Ev.TWILIO_WEBHOOK, method="POST", path="/twilio/voice", auth_token="s3cret")  # noqa: S106 - shows masking
        log.info(Ev.REQUEST, method="POST", path="/twilio/voice", status=200, duration=0.184)
    with request_scope(bellwatch.new_id()):
        try:
            raise ValidationError("Invalid phone number format")
        except ValidationError:
            log.error(Ev.ERROR, exc_info=True, sev=Sev.LOW, phone="+15551234567")
        log.info(Ev.REQUEST, method="POST", path="/api/assistant/book", status=422, duration=0.012)
    logging.getLogger("uvicorn.error").warning("stdlib records come out the same way")
    log.info("an oversized value is shortened, never split", note="x" * 5000)
    log.debug("filtered out in production: costs about an empty call")
    time.sleep(0)
    return Path(log_dir) / f"{service}.jsonl"


def main() -> int:
    path = run()
    print(f"\nwrote {path}; bellwatch.stats() = {bellwatch.stats()}")
    return 0
