"""Each GX suite passes on good data and fails, naming the rows, on each kind of bad data."""

import json
import re
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from stockwise.erp.schema import EXTRACTS, conform
from stockwise.validation.gate import validate
from stockwise.validation.suites import suite_dict

pytestmark = pytest.mark.quality
GX_DIR = Path(__file__).resolve().parents[2] / "great_expectations"
DS = date(2025, 12, 31)


def test_committed_suites_match_the_code():
    for name in EXTRACTS:
        committed = json.loads((GX_DIR / "expectations" / f"{name}.json").read_text())
        assert committed == json.loads(json.dumps(suite_dict(name))), f"run `stockwise gx-suites` ({name})"


@pytest.fixture
def extracts(tiny_demo):
    t = tiny_demo.tables
    po = t["purchase_orders"]
    source = {
        "open_orders": po[po["received_date"].isna()],
        "receipts": po[po["received_date"].notna()],
        "overrides": t["planner_overrides"],
    }
    return {n: conform(n, source.get(n, t.get(n)), "demo") for n in EXTRACTS}


def test_good_demo_data_passes(extracts):
    gate = validate(extracts, DS, GX_DIR)
    assert {n: r.failures for n, r in gate.results.items() if not r.success} == {}
    assert "index.html" in gate.docs_files


def _fail(extracts, name, mutate):
    bad = dict(extracts)
    bad[name] = mutate(extracts[name].copy())
    gate = validate(
        {
            "items": extracts["items"],
            "locations": extracts["locations"],
            "suppliers": extracts["suppliers"],
            name: bad[name],
        },
        DS,
        GX_DIR,
    )
    res = gate.results[name]
    assert not res.success
    return {(f["expectation"], f["column"]): f for f in res.failures}


def test_receipts_before_their_order_and_bad_override_targets_fail(extracts):
    def early(df):
        df.loc[1, "received_date"] = df.loc[1, "order_date"] - pd.Timedelta(days=2)
        return df

    f = _fail(extracts, "receipts", early)
    hit = f[("expect_column_pair_values_a_to_be_greater_than_b", "received_date,order_date")]
    assert hit["unexpected_count"] == 1

    def too_high(df):
        df.loc[1, "service_level"] = 1.5
        return df

    f = _fail(extracts, "overrides", too_high)
    assert f[("expect_column_values_to_be_between", "service_level")]["rows"] == [1]


def test_negative_quantity_fails_with_rows(extracts):
    def neg(df):
        df.loc[[3, 7], "qty"] = -5.0
        return df

    f = _fail(extracts, "sales", neg)
    hit = f[("expect_column_values_to_be_between", "qty")]
    assert hit["unexpected_count"] == 2 and hit["rows"] == [3, 7]


def test_unknown_sku_and_location_fail(extracts):
    def unknown(df):
        df.loc[0, "sku"] = "NOT-A-SKU"
        df.loc[1, "location_id"] = "MARS"
        return df

    f = _fail(extracts, "stock", unknown)
    assert f[("expect_column_values_to_be_in_set", "sku")]["examples"] == ["NOT-A-SKU"]
    assert f[("expect_column_values_to_be_in_set", "location_id")]["examples"] == ["MARS"]


def test_dates_after_the_run_date_fail(extracts):
    import pandas as pd

    def future(df):
        df.loc[0, "date"] = pd.Timestamp("2026-01-05")
        return df

    f = _fail(extracts, "sales", future)
    assert ("expect_column_values_to_be_between", "date") in f


def test_missing_column_and_duplicate_keys_fail(extracts):
    f = _fail(extracts, "items", lambda df: df.drop(columns=["pack_size"]))
    assert ("expect_table_columns_to_match_set", None) in f
    f = _fail(extracts, "stock", lambda df: __import__("pandas").concat([df, df.head(2)], ignore_index=True))
    assert ("expect_compound_columns_to_be_unique", "date,sku,location_id") in f


def test_null_key_fails(extracts):
    def null_key(df):
        df.loc[2, "location_id"] = None
        return df

    f = _fail(extracts, "sales", null_key)
    assert f[("expect_column_values_to_not_be_null", "location_id")]["unexpected_count"] == 1


def test_stale_data_fails_saying_how_old_it_is(extracts):
    from datetime import timedelta

    from stockwise.errors import ValidationFailed

    later = DS + timedelta(days=334)  # the Airflow UI's default logical date, a year after the data
    gate = validate(extracts, later, GX_DIR, freshness_lag_days=1)
    msgs = {n: [f["message"] for f in r.failures if f.get("message")] for n, r in gate.results.items()}
    for name in ("sales", "stock", "movements"):
        assert not gate.results[name].success
        assert msgs[name] == [
            f"{name} end 2025-12-31, 334 days before the run date 2026-11-30 "
            "(at most 1 day allowed: STOCKWISE_FRESHNESS_LAG_DAYS)"
        ], msgs[name]
    assert gate.results["items"].success and gate.results["suppliers"].success
    err = str(ValidationFailed({n: r.failures for n, r in gate.results.items() if not r.success}, {}))
    assert "nothing was published" in err and "stale data: sales end 2025-12-31, 334 days before" in err
    # within the lag it passes: a run the morning after the last full day of data
    assert all(
        r.success for r in validate(extracts, DS + timedelta(days=1), GX_DIR, freshness_lag_days=1).results.values()
    )
    assert not validate(extracts, DS + timedelta(days=2), GX_DIR, freshness_lag_days=1).results["sales"].success


def test_an_empty_sales_extract_fails_at_validation(extracts):
    f = _fail(extracts, "sales", lambda df: df.iloc[0:0])
    assert ("expect_table_row_count_to_be_between", None) in f
    assert f[("expect_column_max_to_be_between", "date")]["message"] == (
        "sales holds no rows up to the run date 2025-12-31: nothing to plan from"
    )


def test_absurd_magnitudes_and_infinities_fail_naming_rows(extracts):
    def absurd(df):
        df.loc[5, "qty"] = 1e12
        df.loc[6, "price"] = float("inf")
        return df

    f = _fail(extracts, "sales", absurd)
    assert f[("expect_column_values_to_be_between", "qty")]["rows"] == [5]
    assert f[("stockwise_values_are_finite", "price")]["rows"] == [6]


def test_text_in_a_quantity_column_fails_naming_rows(extracts):
    def text(df):
        df["qty"] = df["qty"].astype(object)
        df.loc[[4, 9], "qty"] = ["twelve", "n/a"]
        return df

    f = _fail(extracts, "sales", text)
    hit = f[("stockwise_values_parse_as_float", "qty")]
    assert hit["rows"] == [4, 9] and hit["examples"] == ["'twelve'", "'n/a'"]


def test_missing_master_data_passes_in_small_doses_and_fails_in_bulk(extracts):
    def one_missing(df):
        df.loc[0, "unit_cost"] = None
        return df

    gate = validate(
        {
            **{n: extracts[n] for n in ("items", "locations", "suppliers")},
            "items": one_missing(extracts["items"].copy()),
        },
        DS,
        GX_DIR,
    )
    assert gate.results["items"].success  # 1 of 12: planned as a "needs master data" exception

    def many_missing(df):
        df.loc[:3, "unit_cost"] = None
        df.loc[:3, "pack_size"] = None
        return df

    f = _fail(extracts, "items", many_missing)
    assert f[("expect_column_values_to_not_be_null", "unit_cost")]["unexpected_count"] == 4
    assert ("expect_column_values_to_not_be_null", "pack_size") in f


def test_the_results_page_escapes_hostile_values_and_needs_no_network(extracts):
    payloads = ["<script>alert(9)</script>", "<img src=x onerror=alert(1)>"]

    def hostile(df):
        df.loc[[0, 1], "sku"] = payloads
        return df

    bad = dict(extracts, stock=hostile(extracts["stock"].copy()))
    gate = validate({n: bad[n] for n in ("items", "locations", "suppliers", "stock")}, DS, GX_DIR)
    assert not gate.results["stock"].success
    assert set(gate.docs_files) == {"index.html"}
    page = gate.docs_files["index.html"].decode()
    for p in payloads:
        assert p not in page  # never raw
    assert "&lt;script&gt;alert(9)&lt;/script&gt;" in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "expect_column_values_to_be_in_set" in page and "stock: <span class='bad'>failed</span>" in page
    assert "<script" not in page.lower() and "http://" not in page and "https://" not in page  # self-contained


def test_the_planner_report_escapes_hostile_item_text():
    from stockwise import worklist
    from stockwise.report import render

    payloads = ["<script>alert(9)</script>", "<img src=x onerror=alert(1)>"]
    orders = pd.DataFrame(
        {
            "sku": payloads,
            "location_id": ["ST00", "ST01"],
            "name": payloads[::-1],
            "supplier_id": ["S", "S"],
            "segment": ["AX", "AX"],
            "target": [0.95, 0.95],
            "on_hand": [1.0, 2.0],
            "on_order": [0.0, 0.0],
            "reorder_point": [5.0, 5.0],
            "order_up_to": [10.0, 10.0],
            "order_qty": [6.0, 6.0],
            "order_value": [12.0, 12.0],
            "need_by": ["2026-01-05"] * 2,
            "reason": payloads,
            "inventory_position": [1.0, 2.0],
            "days_of_cover": [1.0, 2.0],
            "supplier_note": ["", ""],
        }
    )
    page = render("2025-12-31", orders, orders, {"plan_id": "SW-2025-12-31"}, {"method": "baseline"}, None)
    for p in payloads:
        assert p not in page
    assert "&lt;script&gt;alert(9)&lt;/script&gt;" in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    # the only script is the worklist's own, and the page's policy allows that one by its hash
    assert re.findall(r"<script[^>]*>(.*?)</script>", page, re.S | re.I) == [worklist.SCRIPT]
    csp = re.search(r'Content-Security-Policy" content="([^"]*)"', page).group(1)
    assert f"script-src {worklist.script_hash()}" in csp and "unsafe" not in csp.split("script-src")[1]
