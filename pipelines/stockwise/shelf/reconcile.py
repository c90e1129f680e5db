"""Reconciling facing counts from shelf photos with the planogram and the ERP's book.

Per photographed bay (store x sku): the facings counted, the facings the planogram expects and
the ERP's on hand that day. Findings:

- `suspected_phantom`: no facing on the shelf while the ERP shows stock beyond what a back room
  holds (`backroom_units`): the book may be wrong, count it;
- `shelf_gap`: fewer facings than the planogram expects while the ERP shows enough stock to fill
  them: replenish the shelf from the back room;
- `book_low`: more facings on the shelf than the ERP's on hand: units the book does not know of.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

KEYS = ["sku", "location_id"]
COLUMNS = ["finding", "sku", "location_id", "date", "facings", "expected_facings", "on_hand", "reason", "image"]


@dataclass(frozen=True)
class ReconcileParams:
    backroom_units: float = 0.0  # units the ERP may show that are not on the shelf (back room)
    gap_share: float = 0.5  # a shelf below this share of its planned facings is a gap


def reconcile(counts: pd.DataFrame, on_hand: pd.DataFrame, params: ReconcileParams = ReconcileParams()) -> pd.DataFrame:
    """`counts`: sku, location_id, date, facings, expected_facings, image; `on_hand`: sku,
    location_id, on_hand (the book that day)."""
    df = counts.merge(on_hand[KEYS + ["on_hand"]], on=KEYS, how="left")
    df["on_hand"] = df["on_hand"].fillna(0.0)
    f, e, oh = df["facings"].to_numpy(float), df["expected_facings"].to_numpy(float), df["on_hand"].to_numpy(float)
    finding = np.select(
        [(f == 0) & (oh > params.backroom_units), (f < params.gap_share * e) & (oh >= e), f > oh],
        ["suspected_phantom", "shelf_gap", "book_low"],
        default="",
    )
    df["finding"] = finding
    out = df[df["finding"] != ""].copy()
    words = {
        "suspected_phantom": "no facing on the shelf in the photo but the ERP shows {oh:g} on hand: count it",
        "shelf_gap": "{f:g} of {e:g} planned facings on the shelf with {oh:g} on hand: fill the shelf",
        "book_low": "{f:g} facings on the shelf but the ERP shows only {oh:g} on hand",
    }
    out["reason"] = [
        words[k].format(f=a, e=b, oh=c) + f" ({img})"
        for k, a, b, c, img in zip(
            out["finding"], out["facings"], out["expected_facings"], out["on_hand"], out["image"], strict=True
        )
    ]
    return out[COLUMNS].reset_index(drop=True)
