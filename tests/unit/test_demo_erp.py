import numpy as np
import pandas as pd

from stockwise.erp.demo import DemoConfig, generate
from stockwise.erp.schema import EXTRACTS, conform


def test_deterministic_for_a_seed(tiny_demo):
    from support.demo import TINY

    again = generate(TINY)
    for name, df in tiny_demo.tables.items():
        pd.testing.assert_frame_equal(df, again.tables[name])
    other = generate(DemoConfig(skus=12, stores=2, days=150, seed=12))
    assert not other.tables["sales"].equals(tiny_demo.tables["sales"])


def test_tables_fit_the_canonical_contract(tiny_demo):
    t = tiny_demo.tables
    for name in ("items", "locations", "suppliers", "sales", "stock", "movements"):
        conform(name, t[name], "demo")
    assert set(EXTRACTS["open_orders"].columns) <= set(t["purchase_orders"].columns)
    assert t["sales"]["qty"].gt(0).all()
    assert t["items"]["sku"].is_unique
    assert set(t["movements"]["kind"]) <= {"receipt", "sale", "adjustment", "count", "transfer", "return", "shrink"}


def test_stockouts_censor_sales_and_truth_is_separate(tiny_demo):
    truth = tiny_demo.truth["demand"]
    assert "true_demand" not in tiny_demo.tables["sales"].columns
    assert truth["lost_sales"].sum() > 0  # stockouts happened
    assert (truth["lost_sales"] >= 0).all()
    sold = tiny_demo.tables["sales"]["qty"].sum()
    assert np.isclose(sold, truth["true_demand"].sum() - truth["lost_sales"].sum())


def test_demand_has_weekly_seasonality_promotions_and_slow_movers():
    d = generate(DemoConfig(skus=60, stores=2, days=365, seed=3))
    s = d.truth["demand"]
    by_dow = s.groupby(s["date"].dt.dayofweek)["true_demand"].mean()
    assert by_dow[5] > 1.1 * by_dow[1]  # Saturdays sell more than Tuesdays
    sales = d.tables["sales"]
    promo, normal = sales[sales["on_promo"]], sales[~sales["on_promo"]]
    assert len(promo) > 0 and promo["price"].mean() < normal["price"].mean() * 1.5
    kinds = d.truth["item_profile"]["kind"]
    assert {"fast", "medium", "slow"} <= set(kinds)
    per_series = s.groupby(["sku", "location_id"])["true_demand"].apply(lambda x: (x == 0).mean())
    assert (per_series > 0.6).any()  # intermittent series exist
    assert (d.truth["item_profile"]["launch_date"] > s["date"].min()).any()  # new items exist


def test_anomalies_are_labelled_at_a_realistic_rate(tiny_demo):
    a = tiny_demo.truth["anomalies"]
    rows = len(tiny_demo.tables["stock"])
    assert 0 < len(a) < 0.01 * rows
    assert set(a["kind"]) <= {"shrinkage", "phantom_stock", "fat_finger", "adjustment_error", "duplicate_receipt"}
    ff = a[a["kind"].isin(["fat_finger", "adjustment_error"])]
    mv = tiny_demo.tables["movements"].set_index("movement_id")
    for mid in ff["movement_id"]:
        assert mv.loc[mid, "kind"] == "adjustment"
