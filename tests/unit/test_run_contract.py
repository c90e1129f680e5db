"""The small contracts a daily run relies on: what counts as a what-if, strict run dates, the
plan CSV a buyer opens, and `stockwise where` telling today's truth about quarantine."""

import io
import json
from datetime import date

import pandas as pd
import pytest

from stockwise import lake
from stockwise.errors import ConfigError
from stockwise.orchestration import parse_run_date, scenario_name
from stockwise.publish import plan_csv


def test_any_what_if_makes_a_scenario_and_the_same_what_if_lands_in_the_same_place():
    assert scenario_name({}) is None
    assert (
        scenario_name(
            {
                "service_level": None,
                "budget": None,
                "gate_margin": 0.0,
                "publish_if_gate_fails": True,
                "run_date": "2025-12-31",
            }
        )
        is None
    )  # official controls
    a = scenario_name({"service_level": 0.99, "budget": 500.0})
    assert a.startswith("whatif-") and a == scenario_name({"budget": 500.0, "service_level": 0.99})
    assert a != scenario_name({"service_level": 0.98})
    assert scenario_name({"scenario": "Promo-Week", "service_level": 0.99}) == "promo-week"
    for bad in ("../../plans", "a b", "x" * 80, "-lead"):
        with pytest.raises(ConfigError, match="scenario name"):
            scenario_name({"scenario": bad})


@pytest.mark.parametrize("text", ["2025-12-31", "2025-12-31T00:00:00+00:00", "2025-12-31 05:00:00"])
def test_run_dates_are_parsed_strictly(text):
    assert parse_run_date(text) == date(2025, 12, 31)


@pytest.mark.parametrize("text", ["20251231", "31/12/2025", "2025-13-01", "yesterday", "2025-12-31; DROP TABLE x", ""])
def test_anything_but_a_date_is_refused(text):
    with pytest.raises(ConfigError, match="run date"):
        parse_run_date(text)


def test_the_cli_refuses_a_compact_date():
    from stockwise.cli import main

    with pytest.raises(SystemExit) as e:
        main(["where", "--ds", "20251231"])
    assert e.value.code == 2


def test_plan_csv_keeps_money_to_the_cent_and_no_internal_columns():
    orders = pd.DataFrame(
        {
            "row": [3, 1],
            "sku": ["A", "B"],
            "order_qty": [12.0, 1200.0],
            "unit_cost": [148.2, 10.2875],
            "order_value": [1778.40, 12345.0],
            "need_by": pd.to_datetime(["2026-01-05", "2026-01-06"]),
        }
    )
    back = pd.read_csv(io.BytesIO(plan_csv(orders)))
    assert "row" not in back.columns
    assert back["order_value"].tolist() == [1778.40, 12345.0]
    assert back["unit_cost"].tolist() == [148.2, 10.29]
    text = plan_csv(orders).decode()
    assert "1778.4" in text and "12345.0" in text and "e+" not in text
    assert back["need_by"].tolist() == ["2026-01-05", "2026-01-06"]


def test_where_reports_only_the_dates_latest_quarantine(home):
    from stockwise.cli import where
    from stockwise.settings import Settings

    store = lake.open_lake(Settings())
    d = "2025-12-31"
    lake.write_partition(store, "quarantine/sales", d, {"data.parquet": b"x"})
    lake.write_partition(store, "data_docs", d, {"index.html": b"<html>"}, {"failed": ["sales"], "passed": []})
    assert list(where(date(2025, 12, 31))["quarantined"]) == ["sales"]
    # the ERP fixed the rows and a later run of the same date passed: the quarantine is history
    lake.write_partition(store, "data_docs", d, {"index.html": b"<html>ok"}, {"failed": [], "passed": ["sales"]})
    out = where(date(2025, 12, 31))
    assert "quarantined" not in out
    assert lake.has_partition(store, "quarantine/sales", d)  # kept: nothing is lost
    json.dumps(out)


def test_a_run_started_by_a_new_champion_plans_the_date_it_was_trained_for():
    from types import SimpleNamespace

    from stockwise.orchestration import run_date_from_context

    started = SimpleNamespace(run_after=pd.Timestamp("2026-11-30 06:12", tz="UTC"))
    event = SimpleNamespace(extra={"ds": "2025-12-28", "version": "3"})
    ctx = {
        "params": {},
        "logical_date": None,
        "dag_run": started,
        "triggering_asset_events": {"stockwise://models/stockwise-demand": [event]},
    }
    assert run_date_from_context(ctx) == "2025-12-28"  # not "today", which has no data yet
    assert run_date_from_context({**ctx, "params": {"run_date": "2025-12-31"}}) == "2025-12-31"
    assert run_date_from_context({**ctx, "triggering_asset_events": {}}) == "2026-11-30"
