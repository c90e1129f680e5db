"""Labelled anomalies injected into a daily movement table, to measure any detector on any history.

Seeded. Each kind is written the way it shows in the features: a fat finger is a manual
adjustment of ten or a hundred times a plausible one; a duplicate receipt repeats a receipt day's
quantity as a second line; a book mismatch is a residual; phantom stock is a run of zero sales
on a selling item with stock on the book; shrinkage is a small loss found by a count.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stockwise.anomaly.rules import KEYS, prepare

KINDS = ("fat_finger", "duplicate_receipt", "book_mismatch", "phantom_stock", "shrinkage")


def inject(daily: pd.DataFrame, per_kind: int = 40, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    d = prepare(daily).copy()
    d["on_promo"] = d.get("on_promo", False)
    labels = []
    used: set = set()

    def pick(mask: np.ndarray, k: int) -> np.ndarray:
        """Rows on series not injected yet, one per series: an injection edits the features, not
        the book, so two on one series would see each other's edits as unexplained."""
        idx = np.flatnonzero(mask)
        key = (d["sku"] + "\x1f" + d["location_id"]).to_numpy()
        idx = idx[~np.isin(key[idx], list(used))]
        chosen = []
        for i in rng.permutation(idx):
            if key[i] not in used:
                used.add(key[i])
                chosen.append(i)
            if len(chosen) == k:
                break
        return np.array(chosen, dtype=int)

    quiet_day = (d["n_adjustments"] == 0) & (d["n_counts"] == 0) & (d["dup_receipt_lines"] == 0) & (d["residual"] == 0)
    for i in pick(quiet_day.to_numpy(), per_kind):
        q = float(rng.choice([-2, -1, 1, 2, 3]) * rng.choice([10, 100]))
        d.loc[i, ["adjustments", "max_abs_adjustment", "n_adjustments"]] = [q, abs(q), 1]
        labels.append(("fat_finger", i))
    for i in pick((quiet_day & (d["receipts"] > 0)).to_numpy(), per_kind):
        d.loc[i, ["dup_receipt_qty", "dup_receipt_lines", "dup_refs"]] = [d.at[i, "receipts"], 1, "INJECTED"]
        labels.append(("duplicate_receipt", i))
    for i in pick(quiet_day.to_numpy(), per_kind):
        d.loc[i, "residual"] = float(rng.choice([-5, -3, -2, 2, 4]))
        labels.append(("book_mismatch", i))
    # phantom stock: a series selling at least one a day goes quiet for three weeks, stock on the book
    rate = d.groupby(KEYS)["sold"].transform(lambda s: s.shift(1).rolling(28, min_periods=28).mean())
    cand = (rate >= 1.0) & (d["on_hand"] > 0) & quiet_day
    series_end = d.groupby(KEYS)["date"].transform("max")
    cand &= d["date"] <= series_end - pd.Timedelta(days=25)
    for i in pick(cand.to_numpy(), per_kind):
        run = d.index[
            (d["sku"] == d.at[i, "sku"])
            & (d["location_id"] == d.at[i, "location_id"])
            & (d["date"] >= d.at[i, "date"])
            & (d["date"] < d.at[i, "date"] + pd.Timedelta(days=21))
        ]
        d.loc[run, "sold"] = 0.0
        d.loc[run, "on_hand"] = d.loc[run, "on_hand"].clip(lower=1) + 0  # the book keeps its stock
        labels.append(("phantom_stock", i))
    for i in pick(quiet_day.to_numpy(), per_kind):
        d.loc[i, ["count_qty", "n_counts"]] = [-float(rng.integers(1, 3)), 1]
        labels.append(("shrinkage", i))
    lab = pd.DataFrame(
        {
            "kind": [k for k, _ in labels],
            "sku": [d.at[i, "sku"] for _, i in labels],
            "location_id": [d.at[i, "location_id"] for _, i in labels],
            "date": [d.at[i, "date"] for _, i in labels],
        }
    )
    return d, lab
