"""The logging pipeline: context, processors, redaction, the budgeted renderer, sinks.

What lives here: correlation ids and bound fields (:mod:`.context`), the pipeline steps
(:mod:`.processors`), the one redactor of every output (:mod:`.redact`, with its value
rules in :mod:`._rules` and :mod:`._numbers`), the 200-character JSON renderer
(:mod:`.render`), where lines go (:mod:`.sinks`), the pipeline itself (:mod:`.pipeline`),
``get_logger`` and its bound logger (:mod:`.logger`) with the logger method compiled once
per pipeline (:mod:`._fast`), the stdlib ``logging`` bridge (:mod:`.stdlib`), and work
deferred until the next write or read (:mod:`.deferred`).

May import: ``bellwatch._settings``, ``bellwatch._guard``, ``bellwatch.schema``. Nothing
above: the error aggregator reaches the pipeline through a step the runtime registers.
"""
