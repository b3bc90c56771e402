"""The price table: shipped figures, --prices files, errors that name the line, the region."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bellwatch.cost.prices import (
    HEADER,
    ITEMS,
    CostError,
    Price,
    PriceError,
    default_region,
    dump_prices,
    load_prices,
    parse_prices,
    shipped_prices,
)

HEAD = ",".join(HEADER)
SOURCE = "https://aws.amazon.com/cloudwatch/pricing/"


def row(region: str = "eu-west-1", item: str = "dashboards", usd: str = "3.00") -> str:
    return f"{region},{item},{ITEMS[item]},{usd},2026-12-01,{SOURCE}"


class TestShipped:
    def test_us_east_1_has_the_figures_findings_give(self) -> None:
        """The shipped table prices every item in us-east-1 at the list prices it was read at."""
        us = shipped_prices().for_region("us-east-1")
        assert {item: us.usd(item) for item in ITEMS} == {
            "logs.ingest.standard": 0.50,
            "logs.ingest.infrequent_access": 0.25,
            "logs.storage": 0.03,
            "logs.insights.scanned": 0.005,
            "metrics.custom": 0.30,
            "alarms.standard": 0.10,
            "alarms.high_resolution": 0.30,
            "alarms.composite": 0.50,
            "dashboards": 3.00,
        }
        assert us.borrowed == ()
        assert us.notes() == []

    def test_the_table_is_dated_and_sourced(self) -> None:
        """Every shipped price says when and where it was read."""
        for price in shipped_prices():
            assert price.date == date(2026, 12, 7)
            assert price.source.startswith("https://aws.amazon.com/")
            assert price.origin.startswith("prices.csv:")
        assert shipped_prices().for_region("us-east-1").date == "2026-12-07"

    def test_unknown_region_borrows_us_east_1_and_says_so(self) -> None:
        """A region the table lacks is priced at us-east-1's figures, with a note."""
        prices = shipped_prices().for_region("ca-central-1")
        assert prices.usd("logs.ingest.standard") == 0.50
        assert len(prices.borrowed) == len(ITEMS)
        assert "no prices for ca-central-1" in prices.notes()[0]


class TestOverride:
    def test_a_file_replaces_the_rows_it_names(self, tmp_path: Path) -> None:
        """A --prices row for us-east-1 replaces the shipped one; the others stay."""
        path = tmp_path / "ours.csv"
        path.write_text(f"{HEAD}\n{row('us-east-1', 'logs.ingest.standard', '0.45')}\n")
        prices = load_prices(path).for_region("us-east-1")
        assert prices.usd("logs.ingest.standard") == 0.45
        assert prices.prices["logs.ingest.standard"].origin == f"{path}:2"
        assert prices.usd("dashboards") == 3.00
        assert prices.date == "2026-12-01"

    def test_a_partial_region_borrows_the_rest(self, tmp_path: Path) -> None:
        """A region priced for some items takes us-east-1's for the others, and lists them."""
        path = tmp_path / "ours.csv"
        path.write_text(f"# ours\n{HEAD}\n{row('eu-west-1', 'logs.ingest.standard', '0.57')}\n")
        prices = load_prices(path).for_region("eu-west-1")
        assert prices.usd("logs.ingest.standard") == 0.57
        assert "logs.ingest.standard" not in prices.borrowed
        assert "dashboards" in prices.borrowed
        assert "us-east-1's used" in prices.notes()[0]


class TestErrors:
    @pytest.mark.parametrize(
        ("text", "message"),
        [
            (f"{HEAD}\n{row()}\neu-west-1,logs.sto", "p.csv:3: expected 6 fields"),
            (f"{HEAD}\n{row()}\neu-west-1,logs.sto", "got 2 (a cut-off line?)"),
            (f"{HEAD}\n{row(usd='3,00')}", "p.csv:2: expected 6 fields (region,item,unit,usd,"),
            (f"{HEAD}\n{row(usd='three')}", "p.csv:2: usd 'three' is not a price like 0.50"),
            (f"{HEAD}\n{row(usd='-1')}", "p.csv:2: usd '-1' is not a price"),
            (f"{HEAD}\n{row(usd='nan')}", "p.csv:2: usd 'nan'"),
            (f"{HEAD}\n{row(region='Europe')}", "p.csv:2: region 'Europe' is not an AWS region"),
            (f"{HEAD}\n{row().replace('dashboards', 'dashbords', 1)}", "p.csv:2: unknown item"),
            (f"{HEAD}\n{row().replace('dashboard-month', 'dashboard')}", "priced per dashboard-"),
            (f"{HEAD}\n{row().replace('2026-12-01', '2026-13-01')}", "p.csv:2: date '2026-13-01'"),
            (f"{HEAD}\n{row().replace(SOURCE, '')}", "p.csv:2: source is empty"),
            (f"{HEAD}\n\n{row()}\n{row()}", "p.csv:4: dashboards in eu-west-1 is priced on line 3"),
            (f"{row()}\n", "p.csv:1: expected the header line region,item,unit,usd,date,source"),
            ("# nothing but a comment\n", "p.csv:1: no header line"),
            (f"{HEAD}\n", "p.csv:1: no prices after the header"),
            (f'{HEAD}\n{row()},"unterminated', "p.csv:2: not a CSV line"),
        ],
    )
    def test_a_bad_line_is_named(self, text: str, message: str) -> None:
        """Each way a line can be wrong is refused with the file and line in the message."""
        with pytest.raises(PriceError) as info:
            parse_prices(text, "p.csv")
        assert message in str(info.value)

    def test_a_file_that_is_not_utf8_names_the_line(self, tmp_path: Path) -> None:
        """Undecodable bytes are refused with the line they are on."""
        path = tmp_path / "bad.csv"
        path.write_bytes(f"{HEAD}\n{row()}\n".encode() + b"us-east-1,\xff\xfe\n")
        with pytest.raises(PriceError, match=r"bad\.csv:3: not UTF-8 text"):
            load_prices(path)

    def test_a_missing_file_is_one_clean_error(self, tmp_path: Path) -> None:
        """A --prices path that does not exist says so, naming it."""
        with pytest.raises(PriceError, match="No such file"):
            load_prices(tmp_path / "nope.csv")

    def test_crlf_and_a_byte_order_mark_are_read(self) -> None:
        """A table saved by a spreadsheet on Windows reads the same."""
        table = parse_prices(f"\ufeff{HEAD}\r\n{row()}\r\n", "p.csv")
        assert table.get("eu-west-1", "dashboards") is not None


_REGIONS = st.sampled_from(["us-east-1", "eu-west-1", "ca-central-1", "ap-northeast-1"])
_PRICES = st.builds(
    Price,
    region=_REGIONS,
    item=st.sampled_from(sorted(ITEMS)),
    unit=st.just(""),
    usd=st.decimals(min_value=0, max_value=10_000, places=6).map(float),
    date=st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)),
    source=st.text(min_size=1, max_size=40).filter(
        lambda s: s.strip() == s and "\n" not in s and "\r" not in s and s.strip()
    ),
)


class TestParserProperties:
    @given(st.lists(_PRICES, max_size=12, unique_by=lambda p: (p.region, p.item)))
    def test_dump_then_parse_round_trips(self, prices: list[Price]) -> None:
        """Whatever prices are written, they are read back exactly."""
        prices = [Price(p.region, p.item, ITEMS[p.item], p.usd, p.date, p.source) for p in prices]
        if not prices:
            return
        table = parse_prices(dump_prices(prices), "t.csv")
        for p in prices:
            got = table.get(p.region, p.item)
            assert got is not None
            assert (got.unit, got.usd, got.date, got.source) == (p.unit, p.usd, p.date, p.source)
        assert len(table) == len(prices)

    @given(st.text(max_size=300))
    def test_any_text_is_a_table_or_a_price_error(self, text: str) -> None:
        """Arbitrary input never raises anything but PriceError, which names a line."""
        try:
            parse_prices(f"{HEAD}\n{text}", "t.csv")
        except PriceError as exc:
            assert str(exc).startswith("t.csv:")

    @given(st.integers(min_value=1, max_value=len(row()) - 1))
    def test_any_cut_off_line_is_refused(self, cut: int) -> None:
        """A row cut anywhere (a partial file) is refused, naming its line, never half-read."""
        text = f"{HEAD}\n{row('us-east-1')}\n{row()[:cut]}"
        try:
            table = parse_prices(text, "t.csv")
        except PriceError as exc:
            assert str(exc).startswith("t.csv:3:")
        else:
            # Only a cut inside the source leaves a valid row: a shorter source text.
            assert row()[:cut].startswith(row().rsplit(",", 1)[0] + ",")
            assert len(table) == 2


class TestDefaultRegion:
    @pytest.fixture(autouse=True)
    def _no_aws_config(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
        for key in ("BELLWATCH_REGION", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE"):
            monkeypatch.delenv(key, raising=False)
        config = tmp_path / "config"
        config.write_text("[profile ca]\nregion = ca-central-1\n")
        monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
        return config

    def test_given_wins(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """An explicit region beats every setting."""
        monkeypatch.setenv("BELLWATCH_REGION", "eu-west-1")
        assert default_region("ap-south-1") == ("ap-south-1", "given")

    def test_bellwatch_region_then_aws(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """BELLWATCH_REGION comes before the AWS configuration."""
        monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
        assert default_region() == ("eu-west-1", "AWS configuration")
        monkeypatch.setenv("BELLWATCH_REGION", "us-west-2")
        assert default_region() == ("us-west-2", "BELLWATCH_REGION")

    def test_the_profile_region_is_read_from_the_config_file(self) -> None:
        """A profile's region comes from the AWS config file, as boto3 reads it."""
        assert default_region(profile="ca") == ("ca-central-1", "AWS profile ca")

    def test_nothing_configured_is_us_east_1(self) -> None:
        """With no region anywhere, us-east-1 is priced and the source says why."""
        assert default_region() == ("us-east-1", "no region configured")

    def test_unknown_profile_is_a_cost_error(self) -> None:
        """A profile that does not exist is one clean error naming it."""
        with pytest.raises(CostError, match="AWS profile 'nope' not found"):
            default_region(profile="nope")
