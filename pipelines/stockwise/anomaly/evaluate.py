"""Precision, recall and F1 of alerts against labelled anomalies.

A label (kind, sku, location, date) is found when an alert of an accepted type for the same sku x
location covers its date: the alert's window (where its cause lies) widened by `slack` days. An
alert is right when it covers some label it is accepted for. Accepted types: each label kind's
own, and for an adjustment keyed slightly short, shrinkage too (at the count the two look the
same: units missing that no movement explains); the IsolationForest's untyped
`unusual_movement` is accepted for any label.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

KEYS = ["sku", "location_id"]
ACCEPTS = {
    "shrinkage": {"shrinkage"},
    "phantom_stock": {"phantom_stock"},
    "fat_finger": {"fat_finger", "adjustment_spike"},
    "adjustment_error": {"adjustment_error", "shrinkage", "adjustment_spike"},
    "duplicate_receipt": {"duplicate_receipt"},
    "book_mismatch": {"book_mismatch"},
}
# the IsolationForest does not type what it finds: any label it covers makes it right
ACCEPTS = {k: v | {"unusual_movement"} for k, v in ACCEPTS.items()}


def match(alerts: pd.DataFrame, labels: pd.DataFrame, slack_days: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(label found?, alert right?) as boolean arrays in the frames' row order."""
    a = alerts.reset_index(drop=True).assign(aid=lambda x: np.arange(len(x)))
    lab = labels.reset_index(drop=True).assign(lid=lambda x: np.arange(len(x)))
    lab["date"] = pd.to_datetime(lab["date"])
    j = lab[["lid", "kind", "date", *KEYS]].merge(a[["aid", "type", "window_start", "window_end", *KEYS]], on=KEYS)
    slack = pd.Timedelta(days=slack_days)
    inside = (j["date"] >= pd.to_datetime(j["window_start"]) - slack) & (
        j["date"] <= pd.to_datetime(j["window_end"]) + slack
    )
    ok = inside & np.array([t in ACCEPTS.get(k, {k}) for k, t in zip(j["kind"], j["type"], strict=True)], dtype=bool)
    found = np.zeros(len(lab), dtype=bool)
    right = np.zeros(len(a), dtype=bool)
    found[j.loc[ok, "lid"].to_numpy()] = True
    right[j.loc[ok, "aid"].to_numpy()] = True
    return found, right


def scores(alerts: pd.DataFrame, labels: pd.DataFrame, slack_days: int = 1) -> pd.DataFrame:
    """Per label kind and overall: labels, found, recall; alerts, right, precision; F1.

    Per kind, precision counts the alerts of the types that kind accepts as its own (an alert
    type shared by two kinds is right for either)."""
    found, right = match(alerts, labels, slack_days)
    lab = labels.reset_index(drop=True)
    a = alerts.reset_index(drop=True)
    rows = []
    for kind in sorted(lab["kind"].unique()):
        lk = lab["kind"].to_numpy() == kind
        own = a["type"].to_numpy() == (kind if kind != "adjustment_error" else "adjustment_error")
        rows.append(_row(kind, int(lk.sum()), int(found[lk].sum()), int(own.sum()), int(right[own].sum())))
    rows.append(_row("overall", len(lab), int(found.sum()), len(a), int(right.sum())))
    return pd.DataFrame(rows)


def _row(kind: str, n_lab: int, n_found: int, n_alerts: int, n_right: int) -> dict:
    rec = n_found / n_lab if n_lab else float("nan")
    prec = n_right / n_alerts if n_alerts else float("nan")
    f1 = 2 * prec * rec / (prec + rec) if n_lab and n_alerts and (prec + rec) > 0 else float("nan")
    return {
        "kind": kind,
        "labels": n_lab,
        "found": n_found,
        "recall": rec,
        "alerts": n_alerts,
        "right": n_right,
        "precision": prec,
        "f1": f1,
    }
