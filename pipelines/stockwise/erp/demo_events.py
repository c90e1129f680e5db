"""`stockwise demo-events`: the demo ERP's movements of one day, replayed as stock events.

The demo books each day's sales as one movement at closing time; as events they are split into
a few sales spread over the opening hours (seeded), as a till would send them. Receipts become
`receipt` events (their PO as `po_id`); every other movement (returns, shrink, adjustments,
count corrections, launches) a signed `movement`. The events are dated `to` (by default the day
after the replayed one, the first day after the demo's last plan) and published to the queue
at `speed` times real time (0: as fast as the queue takes them).
"""

from __future__ import annotations

import logging
import time
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from stockwise import events as ev
from stockwise.errors import StockwiseError

log = logging.getLogger(__name__)
OPEN_H, CLOSE_H = 9, 20  # the stores' hours, for the split sales


def read_movements(erp_url: str, day: date | None) -> tuple[date, pd.DataFrame]:
    """The demo ERP's movements of `day` (default: its last day with movements)."""
    import sqlalchemy as sa

    eng = sa.create_engine(erp_url)
    try:
        with eng.connect() as c:
            if day is None:
                last = c.execute(sa.text("select max(ts) from movements")).scalar()
                if last is None:
                    raise StockwiseError("the ERP has no movements: run `stockwise demo-erp` first")
                day = pd.Timestamp(last).date()
            lo, hi = (
                datetime.combine(day, datetime.min.time()),
                datetime.combine(day + timedelta(days=1), datetime.min.time()),
            )
            df = pd.read_sql(
                sa.text(
                    "select movement_id, ts, sku, location_id, kind, qty, ref from movements"
                    " where ts >= :lo and ts < :hi"
                ),
                c,
                params={"lo": lo, "hi": hi},
            )
    finally:
        eng.dispose()
    return day, df


def as_events(movements: pd.DataFrame, to: date, seed: int = 0, split: int = 6) -> list[ev.Event]:
    """The movements as events of day `to`, in time order; sales split into up to `split`."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp(to, tz="UTC")
    out: list[ev.Event] = []
    for r in movements.itertuples(index=False):
        at = start + (pd.Timestamp(r.ts) - pd.Timestamp(r.ts).normalize())
        if r.kind == "sale" and r.qty < 0:
            q = -float(r.qty)
            n = int(min(split, q)) if q == int(q) else 1
            if n > 1:  # a random split of the day's units into n sales
                cuts = np.sort(rng.choice(np.arange(1, int(q)), n - 1, replace=False))
                parts = np.diff(np.r_[0, cuts, int(q)]).astype(float)
            else:
                parts = np.array([q])
            minutes = np.sort(rng.uniform(OPEN_H * 60, CLOSE_H * 60, len(parts)))
            for i, (units, m) in enumerate(zip(parts, minutes, strict=True)):
                when = (start + pd.Timedelta(seconds=round(float(m) * 60))).to_pydatetime()
                out.append(
                    ev.Event(f"{r.movement_id}-{i + 1}", "movement", r.sku, r.location_id, -units, when, "demo-pos")
                )
        elif r.kind == "receipt":
            out.append(
                ev.Event(
                    r.movement_id,
                    "receipt",
                    r.sku,
                    r.location_id,
                    float(r.qty),
                    at.to_pydatetime(),
                    "demo-erp",
                    po_id=r.ref,
                )
            )
        else:
            out.append(
                ev.Event(
                    r.movement_id, "movement", r.sku, r.location_id, float(r.qty), at.to_pydatetime(), f"demo-{r.kind}"
                )
            )
    out.sort(key=lambda e: (e.at, e.id))
    return out


def replay(queue, events: list[ev.Event], speed: float = 0.0, batch: int = 200, limit: int | None = None) -> dict:
    """Publish `events` in their order; with `speed` > 0, at their times scaled (60: an hour a minute)."""
    events = events[:limit] if limit else events
    t0 = time.monotonic()
    if not events:
        return {"events": 0, "seconds": 0.0}
    first = events[0].at
    sent = 0
    last_log = t0
    i = 0
    while i < len(events):
        chunk = [events[i]]
        if speed > 0:
            due = (events[i].at - first).total_seconds() / speed
            wait = due - (time.monotonic() - t0)
            if wait > 0:
                time.sleep(wait)
            j = i + 1  # everything already due goes in the same call
            while (
                j < len(events)
                and len(chunk) < batch
                and (events[j].at - first).total_seconds() / speed <= time.monotonic() - t0
            ):
                chunk.append(events[j])
                j += 1
        else:
            chunk = events[i : i + batch]
        queue.publish([e.to_json() for e in chunk])
        sent += len(chunk)
        i += len(chunk)
        if time.monotonic() - last_log > 10:
            log.info("demo events: %d of %d sent (%.0fs)", sent, len(events), time.monotonic() - t0)
            last_log = time.monotonic()
    return {"events": sent, "seconds": round(time.monotonic() - t0, 2)}
