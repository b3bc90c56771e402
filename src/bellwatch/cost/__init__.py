"""What the logs and the monitoring cost a month on CloudWatch, and what would save.

- :mod:`.prices`: the dated price table (``prices.csv``), ``--prices`` files, the region.
- :mod:`.usage`: bytes and events of records, per event type, level and route, with
  CloudWatch's 26 bytes per event.
- :mod:`.monitoring`: setup's alarms, dashboard and metric filters, counted from
  :mod:`bellwatch.aws`'s own specs; the hours metrics would receive data.
- :mod:`.bill`: the monthly bill, each line measured or estimated; also priced from
  what ``bellwatch aws cost`` reads (:func:`~.bill.aws_bill`).
- :mod:`.whatif`: the same events as structlog's default JSON and the guide's text.
- :mod:`.savings`: the three suggestions that save the most.
- :mod:`.report`: :func:`cost_report`, the whole of ``bellwatch cost`` over records.

Layer: beside ``reports``. Imports :mod:`bellwatch.sources` (record types),
:mod:`bellwatch.query` (filter patterns), :mod:`bellwatch.aws` (setup's specs, the
configured region; never a boto3 call), ``schema``, ``_settings`` and ``timeparse``;
never the runtime side (``log``, ``store``, ``errors``, ``monitor``, ``asgi``).
"""

from __future__ import annotations

from .bill import Bill, BillLine, LogOptions
from .prices import CostError, PriceError, default_region, load_prices
from .report import LOG_GROUP_LOOKBACK_MS, CostOptions, CostReport, cost_report

__all__ = [
    "LOG_GROUP_LOOKBACK_MS",
    "Bill",
    "BillLine",
    "CostError",
    "CostOptions",
    "CostReport",
    "LogOptions",
    "PriceError",
    "cost_report",
    "default_region",
    "load_prices",
]
