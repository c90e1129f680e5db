"""Anomaly detection: precision, recall and F1 per anomaly type, on labelled data.

    .venv/bin/python bench/anomaly_detection.py [--datasets demo m5_tiny]

- `demo`: the default demo ERP (200 skus x 5 stores x 730 days) and its labelled anomalies
  (truth store): unrecorded shrinkage of one or two units, phantom stock (also on slow movers),
  fat-finger adjustments (x10, x100), adjustments keyed one to three units off, duplicate
  receipts, at about 0.2% of sku x location x day rows. Goal: overall F1 >= 0.85, no type below
  0.7 recall.
- `m5_tiny`: the M5 subset in ../shared/data as a store's book: sales from the data, weekly
  replenishment, legitimate small adjustments and periodic counts, then anomalies of each type
  injected by this script (seeded) into the book and the movements. Goal: recall >= 0.8 at
  precision >= 0.7.

The movement features are built by Stockwise's Spark job (features/stockwise_features/
movement_daily.py) and the alerts by its detectors (stockwise.anomaly.rules), exactly as the
planning DAG's `detect_anomalies` task runs them.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
from m5_data import m5_daily

from stockwise.anomaly.evaluate import scores
from stockwise.anomaly.rules import detect

KEYS = ["sku", "location_id"]
log = logging.getLogger("anomaly_detection")


def daily_features(movements: pd.DataFrame, stock: pd.DataFrame) -> pd.DataFrame:
    """Stockwise's Spark feature job on these frames."""
    from stockwise.settings import Settings
    from stockwise.spark import spark_job
    from stockwise_features.movement_daily import build

    with spark_job(Settings(), "bench-anomalies") as spark:
        mv = spark.createDataFrame(movements[["movement_id", "ts", "sku", "location_id", "kind", "qty", "ref"]])
        st = spark.createDataFrame(stock[["date", *KEYS, "on_hand"]])
        out = build(mv, st).toPandas()
    out["date"] = pd.to_datetime(out["date"])
    return out


def demo_case():
    from stockwise.erp.demo import DemoConfig, generate

    d = generate(DemoConfig())
    t = d.tables
    return (
        t["movements"],
        t["stock"],
        t["sales"][["date", *KEYS, "on_promo"]],
        d.truth["anomalies"],
        "demo ERP (seed 7): 200 skus x 5 stores x 730 days, labels from its truth store",
    )


def m5_case(seed: int = 11):
    """A store book driven by M5 sales, with labelled anomalies injected (seeded)."""
    rng = np.random.default_rng(seed)
    _, keys, dates, demand = m5_daily(730, with_test=False)
    n, T = demand.shape
    rate = demand.mean(axis=1)
    # M5 has long runs of zero sales where Walmart was out of stock; in this book they are stock
    # moved out (a recorded transfer) and back in when sales resume, not anomalies
    zero = demand == 0
    run = np.zeros_like(demand)
    for t in range(T - 1, -1, -1):  # length of the zero run starting at each day
        run[:, t] = np.where(zero[:, t], 1 + (run[:, t + 1] if t + 1 < T else 0), 0)
    out = np.zeros_like(zero)
    for s_ in range(n):
        t = 0
        while t < T:
            if run[s_, t] >= 7 and (t == 0 or not zero[s_, t - 1]) and rate[s_] >= 0.3:
                out[s_, t : t + int(run[s_, t])] = True
                t += int(run[s_, t])
            else:
                t += 1
    target = np.ceil(rate * 14 + 3 * np.sqrt(rate * 14) + 2)
    physical = target.copy()
    book = target.copy()
    arriving = np.zeros((n, T + 10))
    moves, labels, stock = [], [], np.zeros((n, T))
    count_every = rng.integers(60, 120, n)
    p = 0.002

    def mv(kind, t, s, q, hour, ref):
        moves.append((dates[t] + pd.Timedelta(hours=hour), s, kind, float(q), ref))

    for t in range(T):
        # stock moved out for a run the data shows no sales; back in (a receipt) when sales resume
        for s in np.flatnonzero(out[:, t] & ((t == 0) | ~out[:, max(t - 1, 0)])):
            if book[s] or physical[s]:
                mv("transfer", t, s, -book[s], 7, f"TR-OUT-{t}-{s}")
                physical[s], book[s] = 0.0, 0.0
                arriving[s, t:] = 0
        for s in np.flatnonzero((t > 0) & out[:, max(t - 1, 0)] & ~out[:, t]):
            physical[s] += target[s]
            book[s] += target[s]
            mv("receipt", t, s, target[s], 7, f"TR-IN-{t}-{s}")
        for s in np.flatnonzero(arriving[:, t] > 0):
            q = arriving[s, t]
            physical[s] += q
            book[s] += q
            mv("receipt", t, s, q, 8, f"PO-{t}-{s}")
            if rng.random() < p * 4:  # keyed twice
                book[s] += q
                mv("receipt", t, s, q, 9, f"PO-{t}-{s}")
                labels.append(("duplicate_receipt", t, s))
        sold = np.minimum(demand[:, t], physical)
        physical -= sold
        book -= sold
        for s in np.flatnonzero(sold > 0):
            mv("sale", t, s, -sold[s], 20, "POS")
        # legitimate adjustments: small, recorded, right (damages found, found stock)
        for s in np.flatnonzero(rng.random(n) < 0.01):
            q = float(rng.choice([-3, -2, -1, 1, 2]))
            q = max(q, -physical[s])
            if q:
                physical[s] += q
                book[s] += q
                mv("adjustment", t, s, q, 11, f"ADJ-OK-{t}-{s}")
        u = rng.random(n)
        for s in np.flatnonzero(u < p * 0.35):
            k = min(float(rng.integers(1, 3)), physical[s])
            if k > 0:
                physical[s] -= k
                labels.append(("shrinkage", t, s))
        for s in np.flatnonzero((u >= p * 0.35) & (u < p * 0.6)):
            if physical[s] > 0 and not out[s, t]:
                physical[s] = 0.0
                labels.append(("phantom_stock", t, s))
        for s in np.flatnonzero((u >= p * 0.6) & (u < p)):
            true_q = float(rng.choice([-2, -1, 1, 2]))
            if rng.random() < 0.3:
                wrong, kind = true_q + float(rng.choice([-3, -2, -1, 1, 2, 3])), "adjustment_error"
            else:
                wrong, kind = true_q * float(rng.choice([10, 100])), "fat_finger"
            physical[s] = max(physical[s] + true_q, 0.0)
            book[s] += wrong
            mv("adjustment", t, s, wrong, 10, f"ADJ-{t}-{s}")
            labels.append((kind, t, s))
        cc = np.flatnonzero(((t + np.arange(n)) % count_every == 0) & (book != physical))
        for s in cc:
            mv("count", t, s, physical[s] - book[s], 9, f"CC-{t}")
        book[cc] = physical[cc]
        # weekly replenishment on Mondays, on the book, arriving in 3 days
        if dates[t].dayofweek == 0:
            need = np.maximum(target + rate * 3 - book - arriving[:, t + 1 : t + 4].sum(axis=1), 0)
            arriving[:, t + 3] += np.where(out[:, min(t + 3, T - 1)] | out[:, t], 0, np.ceil(need))
        stock[:, t] = book
    mvs = pd.DataFrame(moves, columns=["ts", "series", "kind", "qty", "ref"])
    mvs["sku"] = keys["sku"].to_numpy()[mvs["series"]]
    mvs["location_id"] = keys["location_id"].to_numpy()[mvs["series"]]
    mvs["movement_id"] = [f"MV{i:09d}" for i in range(len(mvs))]
    st = pd.DataFrame(
        {
            "date": np.tile(dates, n),
            "sku": np.repeat(keys["sku"].to_numpy(), T),
            "location_id": np.repeat(keys["location_id"].to_numpy(), T),
            "on_hand": stock.ravel(),
        }
    )
    lab = pd.DataFrame(labels, columns=["kind", "day", "series"])
    lab = pd.DataFrame(
        {
            "kind": lab["kind"],
            "date": dates[lab["day"].to_numpy()],
            "sku": keys["sku"].to_numpy()[lab["series"]],
            "location_id": keys["location_id"].to_numpy()[lab["series"]],
        }
    )
    promo = pd.DataFrame(columns=["date", *KEYS, "on_promo"])
    return (
        mvs,
        st,
        promo,
        lab,
        (
            f"M5 subset: 280 series x {T} days of real sales as a store book (weekly "
            "replenishment, 1% of days with a legitimate small adjustment, counts every "
            "60-120 days; runs of 7+ days without sales on series selling 0.3+/day are "
            "read as stockouts: stock transferred out and back, recorded); anomalies "
            "injected at 0.2% of rows, seed 11"
        ),
    )


def table(sc: pd.DataFrame) -> str:
    lines = [
        "| type | labels | found | recall | alerts | right | precision | F1 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in sc.itertuples():
        lines.append(
            f"| {r.kind} | {r.labels} | {r.found} | {r.recall:.2f} | {r.alerts} | {r.right} | "
            f"{r.precision:.2f} | {r.f1:.2f} |"
        )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=["demo", "m5_tiny"], choices=["demo", "m5_tiny"])
    ap.add_argument("--cache", default=None, help="folder to keep the feature tables in between runs")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    for name in a.datasets:
        t0 = time.monotonic()
        movements, stock, promo, labels, notes = demo_case() if name == "demo" else m5_case()
        cached = Path(a.cache) / f"{name}_daily.parquet" if a.cache else None
        if cached and cached.exists():
            daily = pd.read_parquet(cached)
        else:
            daily = daily_features(movements, stock)
            if cached:
                cached.parent.mkdir(parents=True, exist_ok=True)
                daily.to_parquet(cached)
        t1 = time.monotonic()
        alerts = detect(daily, promo)
        t2 = time.monotonic()
        sc = scores(alerts, labels)
        print(
            f"\n## {name}\n{notes}; {len(labels)} labels in {len(stock):,} sku x location x day rows "
            f"({len(labels) / len(stock):.2%})\n"
        )
        print(table(sc))
        by_type = alerts["type"].value_counts().to_dict()
        print(f"\nalerts by type: {by_type}")
        # the registered model: the same rules plus the IsolationForest (unsupervised, same table)
        from stockwise_training.anomaly.model import AnomalyModel

        withp = (
            daily.merge(
                promo.assign(date=pd.to_datetime(promo["date"])).drop_duplicates(["date", *KEYS]),
                on=["date", *KEYS],
                how="left",
            )
            if len(promo)
            else daily
        )
        if "on_promo" in withp:
            withp["on_promo"] = withp["on_promo"].fillna(False).astype(bool)
        model_alerts = AnomalyModel.fit(withp).detect(withp)
        mo = scores(model_alerts, labels).set_index("kind").loc["overall"]
        n_forest = int((model_alerts["source"] == "isolation_forest").sum())
        print(
            f"with the IsolationForest (stockwise-anomaly model): {n_forest} more alerts; overall recall "
            f"{mo.recall:.2f}, precision {mo.precision:.2f}, F1 {mo.f1:.2f}"
        )
        o = sc[sc["kind"] == "overall"].iloc[0]
        worst = sc[sc["kind"] != "overall"]["recall"].min()
        if name == "demo":
            print(
                f"goal: overall F1 >= 0.85 ({o.f1:.2f}: {'met' if o.f1 >= 0.85 else 'MISSED'}), no type below "
                f"0.7 recall (lowest {worst:.2f}: {'met' if worst >= 0.7 else 'MISSED'})"
            )
        else:
            ok = o.recall >= 0.8 and o.precision >= 0.7
            print(
                f"goal: recall >= 0.8 at precision >= 0.7 ({o.recall:.2f} at {o.precision:.2f}: "
                f"{'met' if ok else 'MISSED'})"
            )
        print(f"features (Spark) {t1 - t0:.0f} s incl. data, detectors {t2 - t1:.1f} s")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
