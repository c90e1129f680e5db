"""Each detector on tiny hand-made cases (one positive, one negative), the combined scoring,
the evaluation's matching, and the idempotent cycle-count write-back."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from stockwise.anomaly import rules
from stockwise.anomaly.evaluate import scores
from stockwise_serving.anomalies import score, tasks

DAYS = pd.date_range("2025-01-01", periods=60)


def series(sku="A", loc="S", sold=None, on_hand=None, **cols):
    """A daily movement table for one series; the book follows the movements unless told otherwise."""
    n = len(DAYS)
    sold = np.full(n, 5.0) if sold is None else np.asarray(sold, dtype=float)
    zeros = np.zeros(n)
    df = pd.DataFrame(
        {
            "date": DAYS,
            "sku": sku,
            "location_id": loc,
            "receipts": cols.get("receipts", zeros),
            "sold": sold,
            "adjustments": cols.get("adjustments", zeros),
            "n_adjustments": (np.asarray(cols.get("adjustments", zeros)) != 0).astype(int),
            "count_qty": cols.get("count_qty", zeros),
            "n_counts": (np.asarray(cols.get("count_qty", zeros)) != 0).astype(int),
            "returns": zeros,
            "shrink": zeros,
            "transfers": zeros,
            "dup_receipt_qty": cols.get("dup_receipt_qty", zeros),
            "dup_receipt_lines": (np.asarray(cols.get("dup_receipt_qty", zeros)) > 0).astype(int),
            "dup_refs": np.where(np.asarray(cols.get("dup_receipt_qty", zeros)) > 0, "PO1", ""),
        }
    )
    df["max_abs_adjustment"] = df["adjustments"].abs()
    df["net_movement"] = df["receipts"] - df["sold"] + df["adjustments"] + df["count_qty"] + df["dup_receipt_qty"]
    book = 500 + df["net_movement"].cumsum() if on_hand is None else pd.Series(on_hand, dtype=float)
    df["on_hand"] = book
    df["prev_on_hand"] = book.shift(1)
    df["residual"] = cols.get("residual", zeros)
    return df


def types(df):
    return set(rules.detect(df)["type"])


def test_quiet_series_raises_nothing():
    assert types(series()) == set()


def test_book_mismatch():
    r = np.zeros(len(DAYS))
    r[30] = -4
    assert rules.book_mismatch(rules.prepare(series(residual=r)))["date"].tolist() == [DAYS[30]]
    assert rules.book_mismatch(rules.prepare(series())).empty


def test_negative_stock():
    neg = np.full(len(DAYS), 10.0)
    neg[40:43] = -2
    a = rules.negative_stock(rules.prepare(series(on_hand=neg)))
    assert len(a) == 1 and a["date"].iloc[0] == DAYS[40]  # one alert per run
    assert rules.negative_stock(rules.prepare(series())).empty


def test_duplicate_receipt():
    dup = np.zeros(len(DAYS))
    dup[10] = 24
    a = rules.duplicate_receipt(rules.prepare(series(dup_receipt_qty=dup)))
    assert a["magnitude"].tolist() == [24] and "PO1" in a["reason"].iloc[0]
    assert rules.duplicate_receipt(rules.prepare(series())).empty


def test_fat_finger_x10_but_not_an_ordinary_adjustment():
    adj = np.zeros(len(DAYS))
    adj[[5, 15, 25, 35]] = [-1, 2, -2, 1]  # the usual: one or two units
    ok = series(adjustments=adj)
    adj2 = adj.copy()
    adj2[45] = -20  # -2 keyed as -20
    bad = series(adjustments=adj2)
    p = rules.RuleParams()
    assert rules.fat_finger(rules.prepare(ok), p).empty
    a = rules.fat_finger(rules.prepare(bad), p)
    assert a["date"].tolist() == [DAYS[45]] and "x10 or x100" in a["reason"].iloc[0]


def test_phantom_stock_on_an_improbable_zero_run_not_on_a_slow_mover():
    sold = np.full(len(DAYS), 4.0)
    sold[40:] = 0  # a 4-a-day item stops selling with 300+ on the book
    a = rules.phantom_runs(rules.prepare(series(sold=sold)), rules.RuleParams())
    assert a["type"].tolist() == ["phantom_stock"] and a["date"].iloc[0] <= DAYS[45]
    rng = np.random.default_rng(0)
    slow = rng.poisson(0.15, len(DAYS)).astype(float)  # zeros are normal for it
    assert rules.phantom_runs(rules.prepare(series(sold=slow)), rules.RuleParams()).empty


def test_count_losses_are_shrinkage_or_phantom_and_gains_adjustment_errors():
    cq = np.zeros(len(DAYS))
    cq[50] = -2
    assert types(series(count_qty=cq)) == {"shrinkage"}
    cq[50] = -40
    assert types(series(count_qty=cq)) == {"phantom_stock"}
    cq[50] = +3
    assert types(series(count_qty=cq)) == {"adjustment_error"}


def test_a_count_that_reverses_a_known_fat_finger_is_explained():
    adj = np.zeros(len(DAYS))
    adj[[5, 15, 25]] = [1, -1, 2]
    adj[30] = 30  # +3 keyed as +30
    cq = np.zeros(len(DAYS))
    cq[50] = -27  # the count takes the 27 phantom units back off
    assert types(series(adjustments=adj, count_qty=cq)) == {"fat_finger"}


def test_demand_spike_unless_on_promotion():
    sold = np.full(len(DAYS), 3.0)
    sold[50] = 60
    df = series(sold=sold)
    assert "demand_spike" in types(df)
    promo = pd.DataFrame({"date": [DAYS[50]], "sku": ["A"], "location_id": ["S"], "on_promo": [True]})
    assert "demand_spike" not in set(rules.detect(df, promo)["type"])


def test_combined_scoring_ranks_by_value_at_risk_and_makes_idempotent_tasks():
    sold = np.full(len(DAYS), 4.0)
    sold[40:] = 0
    dup = np.zeros(len(DAYS))
    dup[55] = 12
    daily = pd.concat([series("A", sold=sold), series("B", dup_receipt_qty=dup)], ignore_index=True)
    items = pd.DataFrame({"sku": ["A", "B"], "unit_cost": [10.0, 1.0]})
    a = score(daily, None, items, DAYS[-1].date(), lookback_days=28)
    assert a["type"].tolist() == ["phantom_stock", "duplicate_receipt"]  # dearest first
    assert a["open"].tolist() == [True, False]
    assert a["value_at_risk"].iloc[0] == pytest.approx(a["magnitude"].iloc[0] * 10)
    t = tasks(a, DAYS[-1].date(), due_days=3)
    assert t["task_id"].is_unique and len(t) == 2
    assert t["due"].min() == DAYS[-1].date() + pd.Timedelta(days=1)


def test_cycle_count_write_back_is_idempotent(tmp_path):
    from stockwise.erp.sql import SqlConnector

    conn = SqlConnector(f"sqlite:///{tmp_path / 'erp.db'}")
    t = pd.DataFrame(
        {
            "task_id": ["AN-x-A-S-1", "AN-y-B-S-1"],
            "sku": ["A", "B"],
            "location_id": ["S", "S"],
            "due": [date(2025, 3, 1)] * 2,
            "priority": [5.0, 1.0],
            "reason": ["r1", "r2"],
            "source": "t",
        }
    )
    conn.write_cycle_count_tasks(t, date(2025, 2, 28))
    with conn.engine.begin() as c:
        c.exec_driver_sql("UPDATE cycle_count_tasks SET status = 'done' WHERE task_id = 'AN-x-A-S-1'")
    conn.write_cycle_count_tasks(t.assign(priority=[6.0, 1.0]), date(2025, 2, 28))
    got = conn.read_table("cycle_count_tasks").set_index("task_id")
    assert len(got) == 2
    assert got.loc["AN-x-A-S-1", "status"] == "done" and got.loc["AN-x-A-S-1", "priority"] == 6.0


def test_scores_match_labels_inside_alert_windows():
    alerts = pd.DataFrame(
        {
            "type": ["shrinkage", "fat_finger", "phantom_stock"],
            "sku": ["A", "A", "B"],
            "location_id": "S",
            "date": pd.to_datetime(["2025-02-10", "2025-01-05", "2025-01-20"]),
            "window_start": pd.to_datetime(["2025-01-10", "2025-01-05", "2025-01-15"]),
            "window_end": pd.to_datetime(["2025-02-10", "2025-01-05", "2025-01-20"]),
        }
    )
    labels = pd.DataFrame(
        {
            "kind": ["shrinkage", "adjustment_error", "fat_finger", "phantom_stock"],
            "sku": ["A", "A", "A", "C"],
            "location_id": "S",
            "date": pd.to_datetime(["2025-01-20", "2025-02-01", "2025-01-05", "2025-01-18"]),
        }
    )
    s = scores(alerts, labels).set_index("kind")
    assert (
        s.loc["shrinkage", "recall"] == 1 and s.loc["adjustment_error", "recall"] == 1
    )  # a short adjustment looks like shrinkage
    assert s.loc["fat_finger", "precision"] == 1 and s.loc["phantom_stock", "recall"] == 0
    assert s.loc["overall", "precision"] == pytest.approx(2 / 3)


def test_adjustment_spike_against_the_items_own_adjustments():
    adj = np.zeros(len(DAYS))
    adj[[5, 15, 25, 35, 45]] = [-1, -2, -1, -1, -2]
    ok = series(adjustments=adj)
    assert rules.adjustment_spikes(rules.prepare(ok), rules.RuleParams()).empty
    adj[50] = -17  # not a round ten: no fat finger, but far outside this item's habits
    a = rules.detect(series(adjustments=adj))
    assert a["type"].tolist() == ["adjustment_spike"] and "robust z" in a["reason"].iloc[0]


def test_shelf_photos_of_empty_shelves_join_the_alerts_as_open_phantom_stock(home):
    from stockwise import lake
    from stockwise.settings import Settings
    from stockwise_serving.anomalies import with_shelf_evidence

    store = lake.open_lake(Settings())
    ds = DAYS[-1].date()
    items = pd.DataFrame({"sku": ["A", "B"], "unit_cost": [2.0, 3.0]})
    alerts = score(series("A"), None, items, ds, lookback_days=28)
    assert with_shelf_evidence(alerts, store, ds, items).equals(alerts)  # no photos that day
    found = pd.DataFrame(
        {
            "finding": ["suspected_phantom", "shelf_gap"],
            "sku": ["B", "A"],
            "location_id": "S",
            "on_hand": [12.0, 30.0],
            "reason": ["no facing", "gap"],
        }
    )
    lake.write_partition(store, "shelf/findings", ds.isoformat(), {"findings.parquet": lake.parquet_bytes(found)})
    out = with_shelf_evidence(alerts, store, ds, items)
    b = out[out["sku"] == "B"].iloc[0]
    assert b["type"] == "phantom_stock" and b["open"] and b["source"] == "shelf_photo" and b["value_at_risk"] == 36.0
    assert len(out) == len(alerts) + 1
