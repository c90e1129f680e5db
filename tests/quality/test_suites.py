"""Each GX suite passes on good data and fails, naming the rows, on each kind of bad data."""

import json
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
    source = {"open_orders": po[po["received_date"].isna()], "receipts": po[po["received_date"].notna()],
              "overrides": t["planner_overrides"]}
    return {n: conform(n, source.get(n, t.get(n)), "demo") for n in EXTRACTS}


def test_good_demo_data_passes(extracts):
    gate = validate(extracts, DS, GX_DIR)
    assert {n: r.failures for n, r in gate.results.items() if not r.success} == {}
    assert "index.html" in gate.docs_files


def _fail(extracts, name, mutate):
    bad = dict(extracts)
    bad[name] = mutate(extracts[name].copy())
    gate = validate({"items": extracts["items"], "locations": extracts["locations"],
                     "suppliers": extracts["suppliers"], name: bad[name]}, DS, GX_DIR)
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
