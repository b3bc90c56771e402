"""CloudWatch prices as data: a dated table shipped with the package, overridable by a file.

The table (``prices.csv`` next to this module) has one price a line::

    region,item,unit,usd,date,source
    us-east-1,logs.ingest.standard,GB,0.50,2026-12-07,https://aws.amazon.com/cloudwatch/pricing/

``--prices FILE`` is read the same way and laid over the shipped table: its rows
replace the shipped ones with the same region and item and add the others, so a
region, a negotiated rate or a newer price is one line. A region the tables do not
price borrows us-east-1's figures, and the report says which.

A file that cannot be read as such a table (a truncated line, a wrong unit, a price
that is not a number, a region given twice) is refused with :class:`PriceError`,
whose message names the file and the line. No price is ever fetched from the network.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any, Final

from .._settings import resolve
from ..aws import session

__all__ = [
    "FALLBACK_REGION",
    "GB",
    "HEADER",
    "ITEMS",
    "CostError",
    "Price",
    "PriceError",
    "PriceTable",
    "RegionPrices",
    "default_region",
    "dump_prices",
    "load_prices",
    "parse_prices",
    "shipped_prices",
]

GB: Final = 1 << 30
"""Bytes in the GB that AWS prices by."""
FALLBACK_REGION: Final = "us-east-1"
"""The region whose prices fill in for a region or item no table names."""
HEADER: Final = ("region", "item", "unit", "usd", "date", "source")

# item -> the unit its price is per; a row with another unit is refused.
ITEMS: Final[Mapping[str, str]] = {
    "logs.ingest.standard": "GB",
    "logs.ingest.infrequent_access": "GB",
    "logs.storage": "GB-month",
    "logs.insights.scanned": "GB",
    "metrics.custom": "metric-month",
    "alarms.standard": "alarm-metric-month",
    "alarms.high_resolution": "alarm-metric-month",
    "alarms.composite": "alarm-month",
    "dashboards": "dashboard-month",
}
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")
_USD = re.compile(r"\d{1,9}(\.\d{1,9})?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_SHIPPED = "prices.csv"


class CostError(ValueError):
    """Something ``bellwatch cost`` cannot work with; the message says what and where."""


class PriceError(CostError):
    """A price file that cannot be read as a price table; the message names file and line."""


@dataclass(frozen=True, slots=True)
class Price:
    """One price: ``usd`` per ``unit`` of ``item`` in ``region``, as read on ``date``."""

    region: str
    item: str
    unit: str
    usd: float
    date: date
    source: str
    origin: str = ""
    """Where the row came from: ``file:line``."""


class PriceTable:
    """Prices by (region, item); the last row given for a pair wins (see :meth:`merged`)."""

    def __init__(self, prices: Iterable[Price] = ()) -> None:
        self._by: dict[tuple[str, str], Price] = {(p.region, p.item): p for p in prices}

    def __len__(self) -> int:
        return len(self._by)

    def __iter__(self) -> Iterator[Price]:
        return iter(self._by.values())

    def get(self, region: str, item: str) -> Price | None:
        """The price of ``item`` in ``region``, or None."""
        return self._by.get((region, item))

    def regions(self) -> set[str]:
        """Every region that has at least one price."""
        return {region for region, _ in self._by}

    def merged(self, over: PriceTable) -> PriceTable:
        """This table with ``over``'s rows laid on top (same region and item: ``over`` wins)."""
        return PriceTable([*self._by.values(), *over._by.values()])

    def for_region(self, region: str) -> RegionPrices:
        """Every item's price in ``region``; items it lacks are us-east-1's, and listed."""
        chosen: dict[str, Price] = {}
        borrowed: list[str] = []
        for item in ITEMS:
            price = self.get(region, item)
            if price is None:
                price = self.get(FALLBACK_REGION, item)
                if price is None:
                    raise CostError(
                        f"no price for {item} in {region} or {FALLBACK_REGION}: "
                        "add a line for it to the --prices file"
                    )
                borrowed.append(item)
            chosen[item] = price
        return RegionPrices(region, chosen, tuple(borrowed))


@dataclass(frozen=True, slots=True)
class RegionPrices:
    """The prices a bill uses: one per item, for one region."""

    region: str
    prices: Mapping[str, Price]
    borrowed: tuple[str, ...] = field(default=())
    """Items the tables do not price in ``region``: us-east-1's figure stands in."""

    def usd(self, item: str) -> float:
        """USD per unit of ``item``."""
        return self.prices[item].usd

    @property
    def date(self) -> str:
        """The oldest date among the prices used: the table is no newer than that."""
        return min(p.date for p in self.prices.values()).isoformat()

    def notes(self) -> list[str]:
        """What a reader must know about these prices, one sentence each."""
        out = []
        if len(self.borrowed) == len(ITEMS):
            out.append(
                f"no prices for {self.region} in the table: using {FALLBACK_REGION}'s "
                "(prices differ by region, often upwards; --prices FILE sets yours)"
            )
        elif self.borrowed:
            out.append(
                f"{', '.join(self.borrowed)}: no price for {self.region}, {FALLBACK_REGION}'s used"
            )
        return out

    def as_dict(self) -> dict[str, Any]:
        """The prices as JSON-ready values."""
        return {
            "region": self.region,
            "date": self.date,
            "borrowed_from_us_east_1": list(self.borrowed),
            "items": {
                item: {
                    "usd": p.usd,
                    "unit": p.unit,
                    "date": p.date.isoformat(),
                    "source": p.source,
                    "region": p.region,
                }
                for item, p in self.prices.items()
            },
        }


def _fail(name: str, line: int, why: str) -> PriceError:
    return PriceError(f"{name}:{line}: {why}")


def _row(name: str, line: int, fields: list[str]) -> Price:
    if len(fields) != len(HEADER):
        cut = " (a cut-off line?)" if len(fields) < len(HEADER) else ""
        raise _fail(
            name,
            line,
            f"expected {len(HEADER)} fields ({','.join(HEADER)}), got {len(fields)}{cut}",
        )
    region, item, unit, usd, when, source = (f.strip() for f in fields)
    if not _REGION.fullmatch(region):
        raise _fail(name, line, f"region {region!r} is not an AWS region name like us-east-1")
    if item not in ITEMS:
        raise _fail(name, line, f"unknown item {item!r}; known: {', '.join(ITEMS)}")
    if unit != ITEMS[item]:
        raise _fail(name, line, f"{item} is priced per {ITEMS[item]}, not per {unit!r}")
    if not _USD.fullmatch(usd):
        raise _fail(name, line, f"usd {usd!r} is not a price like 0.50")
    try:
        day = date.fromisoformat(when) if _DATE.fullmatch(when) else None
    except ValueError:
        day = None
    if day is None:
        raise _fail(name, line, f"date {when!r} is not a date like 2026-12-07")
    if not source:
        raise _fail(name, line, "source is empty: name the page the price was read from")
    return Price(region, item, unit, float(usd), day, source, f"{name}:{line}")


def parse_prices(text: str, name: str = "prices") -> PriceTable:
    """Read a price table from ``text``; ``name`` is the file name errors begin with.

    Lines starting with ``#`` and blank lines are skipped; the first other line must be
    the header ``region,item,unit,usd,date,source``.

    Raises:
        PriceError: a line that is not a valid price, naming ``name`` and the line.
    """
    rows: list[Price] = []
    seen: dict[tuple[str, str], int] = {}
    header = 0  # the header's line number, once seen
    for number, raw in enumerate(text.removeprefix("\ufeff").split("\n"), 1):
        line = raw.rstrip("\r")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            fields = next(csv.reader([line], strict=True))
        except csv.Error as exc:
            raise _fail(name, number, f"not a CSV line: {exc}") from None
        if not header:
            if tuple(f.strip().lower() for f in fields) != HEADER:
                raise _fail(name, number, f"expected the header line {','.join(HEADER)} first")
            header = number
            continue
        price = _row(name, number, fields)
        key = (price.region, price.item)
        if key in seen:
            raise _fail(
                name,
                number,
                f"{price.item} in {price.region} is priced on line {seen[key]} already",
            )
        seen[key] = number
        rows.append(price)
    if not header:
        raise _fail(name, 1, f"no header line {','.join(HEADER)}: not a price table")
    if not rows:
        raise _fail(name, header, "no prices after the header")
    return PriceTable(rows)


def _read(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PriceError(f"{path}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise _fail(str(path), line, "not UTF-8 text") from None


def shipped_prices() -> PriceTable:
    """The table shipped with bellwatch (``bellwatch/cost/prices.csv``)."""
    text = resources.files(__package__).joinpath(_SHIPPED).read_text(encoding="utf-8")
    return parse_prices(text, _SHIPPED)


def load_prices(path: str | Path | None = None) -> PriceTable:
    """The shipped table, with the file at ``path`` (``--prices``) laid over it.

    Raises:
        PriceError: the file cannot be read, or a line of it is not a valid price.
    """
    table = shipped_prices()
    if path is None:
        return table
    return table.merged(parse_prices(_read(Path(path)), str(path)))


def dump_prices(prices: Iterable[Price]) -> str:
    """Prices as a table :func:`parse_prices` reads back (a template for ``--prices``)."""
    out = [",".join(HEADER)]
    for p in prices:
        cells = [
            p.region,
            p.item,
            p.unit,
            f"{p.usd:.9f}".rstrip("0").rstrip("."),
            p.date.isoformat(),
            p.source,
        ]
        row = ",".join(_quote(c) for c in cells)
        out.append(row)
    return "\n".join(out) + "\n"


def _quote(cell: str) -> str:
    if any(ch in cell for ch in ',"\r\n') or cell != cell.strip() or cell.startswith("#"):
        return '"' + cell.replace('"', '""') + '"'
    return cell


def default_region(region: str | None = None, *, profile: str | None = None) -> tuple[str, str]:
    """The region to price, and where it came from.

    ``region`` when given, else ``BELLWATCH_REGION``, else the AWS configuration (the
    profile's region or ``AWS_DEFAULT_REGION``, read without a network call), else
    us-east-1.

    Raises:
        CostError: ``profile`` does not exist.
    """
    if region:
        return region, "given"
    configured = resolve().region
    if configured:
        return configured, "BELLWATCH_REGION"
    try:
        found = session.configured_region(profile)
    except ValueError as exc:
        raise CostError(str(exc)) from None
    if found:
        return found, f"AWS profile {profile}" if profile else "AWS configuration"
    return FALLBACK_REGION, "no region configured"
