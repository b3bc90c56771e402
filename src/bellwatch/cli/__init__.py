"""The ``bellwatch`` command: a thin shell that renders :mod:`bellwatch.reports`,
:mod:`bellwatch.sources` and the query engines.

One concern a module: :mod:`.main` (the click group and :func:`main`, the console entry
point), :mod:`.options` (the options every reading command shares, and the source they
lead to), :mod:`.output` (every readable and JSON output; :mod:`._escape` what a terminal
would act on, escaped in text and in JSON), :mod:`.records` (``tail``,
``trace``, ``filter``, ``insights``), :mod:`.reports` (``errors``, ``slow``,
``endpoints``, ``twilio``, ``summary``) and :mod:`.service` (``metrics``, ``health``,
``demo``). ``aws`` (:mod:`bellwatch.cli.aws`) is loaded only when asked for.

Layering: the only package that imports click (and Rich, for the terminal); it may import
every layer below it, and nothing imports it.
"""

from __future__ import annotations

from .main import cli, main
from .options import UsageProblem
from .output import format_record

__all__ = ["UsageProblem", "cli", "format_record", "main"]
