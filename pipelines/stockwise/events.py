"""Stock events between two nightly plans: their schema, and what they do to a position.

The ERP side publishes one event per stock change (docs/architecture.md, "Intraday
replanning"); the `stock_events` DAG batches them, and the intraday replan asks what they mean
for the day's plan. Plain functions over frames: no queue, no lake, no clock here.

Schema version 1, one JSON object per event:

    {"v": 1, "id": "erp-42-7781", "kind": "movement", "sku": "SKU0001", "location_id": "S01",
     "qty": -3, "at": "2025-12-31T10:42:00+00:00", "source": "pos"}

- `id`: unique per event at its source: the key that makes a replay change nothing;
- `kind`: `movement` (signed: a sale or shrink is negative, a return or transfer in positive),
  `receipt` (goods received: `qty` received, optional `po_id` and `expected_qty`), `count` (a
  physical count: `qty` is what is on the shelf), `stockout` (the shelf was found empty);
- `at`: when it happened, ISO 8601 with an offset (a time without one is refused: a queue
  crosses time zones); `source`: the system that sent it.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from stockwise.errors import StockwiseError

VERSION = 1
KINDS = ("movement", "receipt", "count", "stockout")
KEYS = ["sku", "location_id"]
COLUMNS = ["id", "kind", "sku", "location_id", "qty", "at", "source", "po_id", "expected_qty"]


class BadEvent(StockwiseError):
    """An event that cannot be applied; it is quarantined with this message, never dropped."""


@dataclass(frozen=True)
class Event:
    id: str
    kind: str
    sku: str
    location_id: str
    qty: float
    at: datetime
    source: str = ""
    po_id: str | None = None
    expected_qty: float | None = None

    def to_json(self) -> str:
        d = asdict(self)
        d["at"] = self.at.isoformat()
        return json.dumps({"v": VERSION, **{k: v for k, v in d.items() if v is not None}}, sort_keys=True)


def _number(d: dict, name: str, required: bool) -> float | None:
    v = d.get(name)
    if v is None:
        if required:
            raise BadEvent(f"field '{name}' is missing")
        return None
    if isinstance(v, bool) or not isinstance(v, int | float | str):
        raise BadEvent(f"field '{name}' is not a number: {v!r}")
    try:
        x = float(v)
    except ValueError:
        raise BadEvent(f"field '{name}' is not a number: {v!r}") from None
    if not math.isfinite(x):
        raise BadEvent(f"field '{name}' is not a finite number: {v!r}")
    return x


def _text(d: dict, name: str, required: bool = True, limit: int = 200) -> str | None:
    v = d.get(name)
    if v is None or v == "":
        if required:
            raise BadEvent(f"field '{name}' is missing")
        return None
    if not isinstance(v, str | int) or isinstance(v, bool):
        raise BadEvent(f"field '{name}' is not text: {v!r}")
    v = str(v)
    if len(v) > limit or any(ord(c) < 32 for c in v):
        raise BadEvent(f"field '{name}' is longer than {limit} characters or holds control characters")
    return v


def parse(raw: str | bytes | dict[str, Any]) -> Event:
    """One event from its JSON (or decoded dict); `BadEvent` names the field at fault."""
    if isinstance(raw, bytes | str):
        try:
            raw = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as e:
            raise BadEvent(f"not JSON: {e}") from None
    if not isinstance(raw, dict):
        raise BadEvent(f"an event is a JSON object, not {type(raw).__name__}")
    v = raw.get("v")
    if v != VERSION:
        raise BadEvent(f"schema version {v!r} is not supported (this Stockwise reads version {VERSION})")
    kind = _text(raw, "kind")
    if kind not in KINDS:
        raise BadEvent(f"field 'kind' is {kind!r}, not one of {', '.join(KINDS)}")
    qty = _number(raw, "qty", required=kind != "stockout")
    if kind in ("receipt", "count") and qty is not None and qty < 0:
        raise BadEvent(f"field 'qty' of a {kind} is negative ({qty:g})")
    at_text = _text(raw, "at")
    try:
        at = datetime.fromisoformat(str(at_text))
    except ValueError:
        raise BadEvent(f"field 'at' is not an ISO 8601 time: {at_text!r}") from None
    if at.tzinfo is None:
        raise BadEvent(f"field 'at' has no UTC offset: {at_text!r} (a queue crosses time zones)")
    return Event(
        id=str(_text(raw, "id")),
        kind=kind,
        sku=str(_text(raw, "sku")),
        location_id=str(_text(raw, "location_id")),
        qty=0.0 if qty is None else qty,
        at=at.astimezone(UTC),
        source=_text(raw, "source", required=False) or "",
        po_id=_text(raw, "po_id", required=False),
        expected_qty=_number(raw, "expected_qty", required=False),
    )


def frame(events: list[Event]) -> pd.DataFrame:
    """Events as rows (`COLUMNS`), `at` in UTC."""
    df = pd.DataFrame([asdict(e) for e in events], columns=COLUMNS)
    df["at"] = pd.to_datetime(df["at"], utc=True)
    df["qty"] = df["qty"].astype(float)
    df["expected_qty"] = df["expected_qty"].astype(float)
    return df


def unique(new: pd.DataFrame, seen: pd.DataFrame | None) -> pd.DataFrame:
    """The events of `new` not already in `seen`, by id (a replay, a redelivery, a duplicate
    inside the batch: each event counts once, its first arrival kept)."""
    new = new.drop_duplicates("id", keep="first")
    if seen is not None and len(seen):
        new = new[~new["id"].isin(seen["id"])]
    return new.reset_index(drop=True)


def apply(positions: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """The positions (sku, location_id, on_hand, on_order, ...) after the day's events, in the
    order they happened: a count sets what is on hand and later movements count from it; a
    receipt moves its quantity from on order to on hand; a stockout empties the shelf.
    Positions no event touched are returned unchanged; an event for a position the plan does
    not hold adds it with nothing on order. Adds `events` (how many applied) and `last_event`."""
    out = positions.copy()
    out["events"] = 0
    if not len(events):
        out["last_event"] = pd.NaT
        return out
    ev = events.sort_values(["at", "id"], kind="stable")
    idx = pd.MultiIndex.from_frame(out[KEYS].astype(str))
    missing = ev[KEYS].drop_duplicates()
    missing = missing[~pd.MultiIndex.from_frame(missing.astype(str)).isin(idx)]
    if len(missing):
        out = pd.concat([out, missing.assign(on_hand=0.0, on_order=0.0)], ignore_index=True)
        for c in ("events",):
            out[c] = out[c].fillna(0).astype(int)
        idx = pd.MultiIndex.from_frame(out[KEYS].astype(str))
    row = idx.get_indexer(pd.MultiIndex.from_frame(ev[KEYS].astype(str)))
    on_hand = out["on_hand"].to_numpy(dtype=float).copy()
    on_order = out["on_order"].to_numpy(dtype=float).copy()
    n = np.zeros(len(out), dtype=int)
    last = np.full(len(out), np.datetime64("NaT"), dtype="datetime64[ns]")
    for r, kind, qty, at in zip(row, ev["kind"], ev["qty"].to_numpy(float), ev["at"], strict=True):
        if kind == "movement":
            on_hand[r] += qty
        elif kind == "receipt":
            on_hand[r] += qty
            on_order[r] = max(on_order[r] - qty, 0.0)
        elif kind == "count":
            on_hand[r] = qty
        else:  # stockout
            on_hand[r] = 0.0
        n[r] += 1
        last[r] = np.datetime64(at.tz_convert(None), "ns")
    out["on_hand"], out["on_order"], out["events"] = on_hand, on_order, n
    out["last_event"] = pd.to_datetime(last).tz_localize("UTC")
    return out


def short_receipts(events: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Receipts short of their expected quantity by more than `threshold` (a share, 0.1 = 10%)."""
    r = events[(events["kind"] == "receipt") & events["expected_qty"].gt(0)]
    short = 1 - r["qty"] / r["expected_qty"]
    return r[short > threshold].assign(short_share=short[short > threshold])
