import pandas as pd
import pytest

from stockwise.erp.mapping import load_mapping
from stockwise.erp.schema import EXTRACTS, conform
from stockwise.errors import ConfigError, ExtractError


def test_conform_names_the_source_and_missing_columns():
    df = pd.DataFrame({"sku": ["A"], "location_id": ["S"], "date": ["2025-01-01"]})
    with pytest.raises(
        ExtractError, match=r"erp\.csv: extract 'sales' lacks column\(s\) \['qty', 'price', 'on_promo'\]"
    ):
        conform("sales", df, "erp.csv")


def test_conform_types_columns_but_leaves_garbage_for_validation():
    df = pd.DataFrame(
        {
            "date": ["2025-01-01", "2025-01-02"],
            "sku": [1, 2],
            "location_id": ["S", "S"],
            "qty": ["3", "oops"],
            "price": ["1.5", "2"],
            "on_promo": ["true", "0"],
            "extra": [0, 0],
        }
    )
    out = conform("sales", df, "x")
    assert list(out.columns) == list(EXTRACTS["sales"].columns)
    assert out["sku"].tolist() == ["1", "2"]
    assert out["price"].dtype == float
    assert out["qty"].tolist() == ["3", "oops"]  # not silently NaN: validation will name it
    assert out["on_promo"].tolist() == [True, False]
    assert str(out["date"].dtype) == "datetime64[ns]"


def test_demo_mapping_covers_every_extract():
    m = load_mapping(None)
    assert set(m.extracts) == set(EXTRACTS)


def test_bad_mapping_files_are_explained(tmp_path):
    p = tmp_path / "m.yaml"
    p.write_text("extracts:\n  sails: {table: x}\n")
    with pytest.raises(ConfigError, match=r"unknown extract\(s\) \['sails'\]"):
        load_mapping(p)
    p.write_text("extracts:\n  sales: {tabel: x}\n")
    with pytest.raises(ConfigError, match=r"extract 'sales' has unknown key\(s\) \['tabel'\]"):
        load_mapping(p)
    p.write_text("nope: [")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_mapping(p)
    with pytest.raises(ConfigError, match="does not exist"):
        load_mapping(tmp_path / "missing.yaml")


def test_an_erp_without_supplier_names_conforms_with_them_empty(caplog):
    """Names are descriptive: an ERP without them is not a missing column (no warning, nothing
    quarantined), and one with them keeps them."""
    base = {"supplier_id": ["S1"], "lead_time_days_mean": [5.0], "lead_time_days_std": [1.0]}
    base |= {"order_weekdays": ["mon"], "min_order_value": [0.0]}
    out = conform("suppliers", pd.DataFrame(base), "erp")
    assert list(out.columns) == list(EXTRACTS["suppliers"].columns) and out["name"].isna().all()
    assert "lacks" not in caplog.text
    named = conform("suppliers", pd.DataFrame({**base, "name": ["Northfield Foods"]}), "erp")
    assert named["name"].tolist() == ["Northfield Foods"]
