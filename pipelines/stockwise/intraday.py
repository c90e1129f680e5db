"""Job: take the stock events that arrived, keep them in the lake, and replan the positions they
touched as an intraday revision of the plan in force (the `stock_events` DAG; `stockwise
intraday`).

1. **read** up to `events_batch` events from the queue (those a killed run read but never
   acknowledged first); each is parsed against the schema (`stockwise.events`): a bad one
   goes to `events/quarantine/` with why, never dropped;
2. **keep** the new ones (by event id: a replay or redelivery changes nothing) in
   `events/stock/ds=<day of the event>/`, a Parquet file per batch, then acknowledge them;
3. **replan** each day that got new events, from the plan in force (the newest published plan
   before that day) and every event of the day so far (`stockwise.planning.intraday`);
4. **publish** revision n of that plan when it orders more or raises new exceptions, with the
   same protocol as the nightly plan: staged in `plans_intraday/ds=<day>/`, committed in the
   ERP in one transaction as plan `SW-<plan date>-r<n>` (its lines, its exceptions and the
   publication record), then flipped in the lake. Killed between the ERP commit and the flip,
   the next run flips the version the ERP holds before it computes anything.

One run at a time (the lake lock `events`): the DAG runs one at a time too, and a CLI run
beside it waits for the lock.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import date, timedelta

import pandas as pd

from stockwise import alerts, faults, lake, runlock
from stockwise import events as ev
from stockwise.catalog import EVENTS, EVENTS_QUARANTINE, INTRADAY, PLANS
from stockwise.erp.connect import connect
from stockwise.errors import StockwiseError
from stockwise.eventqueue import EventQueue
from stockwise.planning import intraday
from stockwise.publish import plan_id, reconcile
from stockwise.settings import Settings

log = logging.getLogger(__name__)
LOCK = "events"
# the lock's lease, renewed every third of it while a run goes: a run killed mid-batch holds it
# this long at most, so the next wake-up waits a minute, not the nightly runs' 15
LEASE_S = 60.0
PLAN_AGE_DAYS = 7  # the newest plan older than this is not "in force": replanning from it would mislead


@dataclass
class IntradayResult:
    read: int = 0
    new_events: int = 0
    duplicates: int = 0
    quarantined: int = 0
    days: list[str] = field(default_factory=list)
    revisions: list[dict] = field(default_factory=list)
    backlog: int = 0
    seconds: float = 0.0


def plan_in_force(store, day: date) -> date:
    """The newest published plan made before `day` (its data ends the day before at the latest)."""
    for back in range(1, PLAN_AGE_DAYS + 1):
        d = day - timedelta(days=back)
        if PLANS.exists(store, d):
            return d
    raise StockwiseError(
        f"no published plan in the {PLAN_AGE_DAYS} days before {day}: stock events of {day} are kept in the lake "
        "but not replanned (run the nightly plan first)"
    )


def run(ds: date, settings: Settings | None = None, consumer: str = "stockwise") -> IntradayResult:
    settings = settings or Settings()
    if settings.scenario:
        raise StockwiseError("stock events change the plan in force: a scenario cannot take them")
    t0 = time.monotonic()
    store = lake.open_lake(settings)
    queue = EventQueue(settings.events_url, stream=settings.events_stream)
    out = IntradayResult()
    with runlock.held(store, LOCK, runlock.cli_owner(), lease_s=LEASE_S, wait_s=2 * LEASE_S):
        msgs = queue.read(consumer, count=settings.events_batch)
        _keep(store, msgs, ds, out)
        faults.point(settings, "intraday.before_ack")
        queue.ack([m.id for m in msgs])  # in the lake (or quarantined, or seen before): done with them
        conn = connect(settings)
        # the days that got events, and the run's own day even without new ones: a run killed
        # after acknowledging its batch but before publishing left events no revision has seen
        # (a replan with nothing new publishes nothing, so this costs one read of the day)
        todo = sorted(set(out.days) | ({ds.isoformat()} if EVENTS.exists(store, ds) else set()))
        for d in todo:
            rev = replan_day(store, conn, date.fromisoformat(d), settings)
            if rev:
                out.revisions.append(rev)
    out.backlog = queue.backlog()
    out.seconds = round(time.monotonic() - t0, 2)
    log.info(
        "stock events: %d read, %d new, %d duplicate, %d quarantined; %d revision(s); %d still queued (%.1fs)",
        out.read,
        out.new_events,
        out.duplicates,
        out.quarantined,
        len(out.revisions),
        out.backlog,
        out.seconds,
    )
    return out


def _keep(store, msgs: list, ds: date, out: IntradayResult) -> None:
    """Parse a batch; quarantine the bad events (under the run's date), append the new good
    ones to their day's partition (each id once); count what happened in `out`."""
    out.read = len(msgs)
    good, bad = [], []
    for m in msgs:
        try:
            good.append((m.id, ev.parse(m.data)))
        except ev.BadEvent as e:
            bad.append({"stream_id": m.id, "raw": m.data.decode("utf-8", "replace")[:2000], "error": str(e)})
    if bad:
        out.quarantined = len(bad)
        log.warning("%d stock event(s) quarantined, e.g. %s: %s", len(bad), bad[0]["stream_id"], bad[0]["error"])
        if EVENTS_QUARANTINE.exists(store, ds):  # a re-read batch: each entry quarantined once
            done = set(EVENTS_QUARANTINE.read(store, ds)["stream_id"])
            bad = [b for b in bad if b["stream_id"] not in done]
    if bad:
        lake.append_partition(
            store,
            EVENTS_QUARANTINE.path,
            ds.isoformat(),
            {f"batch-{bad[0]['stream_id']}.parquet": lake.parquet_bytes(pd.DataFrame(bad))},
        )
    frame = ev.frame([e for _, e in good])
    frame["stream_id"] = [i for i, _ in good]
    for day in sorted(set(frame["at"].dt.date)) if len(frame) else []:
        batch = frame[frame["at"].dt.date == day]
        seen = EVENTS.read(store, day) if EVENTS.exists(store, day) else None
        new = ev.unique(batch, seen)
        out.duplicates += len(batch) - len(new)
        if not len(new):
            continue
        out.new_events += len(new)
        out.days.append(day.isoformat())
        lake.append_partition(  # named by its first new entry: a re-read batch never clashes
            store,
            EVENTS.path,
            day.isoformat(),
            {f"batch-{new['stream_id'].iloc[0]}.parquet": lake.parquet_bytes(new)},
            {"events": (0 if seen is None else len(seen)) + len(new)},
        )


def _revision_id(plan_day: date, n: int) -> str:
    return f"{plan_id(plan_day)}-r{n}"


def replan_day(store, conn, day: date, settings: Settings) -> dict | None:
    """Replan `day`'s touched positions; publish a revision when it orders more or raises new
    exceptions. Returns the revision published (None when there was nothing new)."""
    try:
        p = plan_in_force(store, day)
    except StockwiseError as e:
        log.error("%s", e)
        return None
    reconcile(store, conn, p)  # the plan in force itself as the ERP holds it
    n = _heal(store, conn, day, p)
    prev = INTRADAY.manifest(store, day) if INTRADAY.exists(store, day) else None
    ordered = INTRADAY.read(store, day, "ordered.parquet") if prev else None
    before = INTRADAY.read(store, day, "exceptions.parquet") if prev else None
    plan = PLANS.read(store, p, "all_positions.parquet")
    events = EVENTS.read(store, day)
    r = intraday.replan(plan, events, ordered, day, intraday.IntradayConfig(short_receipt=settings.short_receipt_share))
    new_exc = r.exceptions
    if before is not None and len(before):
        known = pd.MultiIndex.from_frame(before[["sku", "location_id", "kind"]])
        new_exc = new_exc[~pd.MultiIndex.from_frame(new_exc[["sku", "location_id", "kind"]]).isin(known)]
    if not len(r.lines) and not len(new_exc):
        log.info("stock events of %s: %d position(s) replanned, nothing more to order", day, len(r.positions))
        if n and _report_behind(store, p):  # a run killed after its flip, before the page
            _report(store, p)
        return None
    n += 1
    pid = _revision_id(p, n)
    lines = r.lines.assign(revision=n)
    exc = r.exceptions.assign(revision=n)
    if before is not None and len(before) and "revision" in before:  # an exception keeps the revision that raised it
        first = before[["sku", "location_id", "kind", "revision"]]
        exc = exc.drop(columns="revision").merge(first, on=["sku", "location_id", "kind"], how="left")
        exc["revision"] = exc["revision"].fillna(n).astype(int)
    day_lines = INTRADAY.read(store, day, "day_lines.parquet") if prev and "day_lines.parquet" in prev.files else None
    cumulative = _stack(ordered, lines[["sku", "location_id", "order_qty"]].rename(columns={"order_qty": "qty"}))
    files = {
        "lines.parquet": lake.parquet_bytes(lines),
        "ordered.parquet": lake.parquet_bytes(cumulative[["sku", "location_id", "qty"]]),
        "positions.parquet": lake.parquet_bytes(r.positions),
        "exceptions.parquet": lake.parquet_bytes(
            _stack(before, exc).drop_duplicates(["sku", "location_id", "kind"], keep="last")
        ),
        # every line the day's revisions added, for the report's intraday section
        "day_lines.parquet": lake.parquet_bytes(_stack(day_lines, lines)),
    }
    meta = {
        "revision": n,
        "plan_id": pid,
        "plan_in_force": p.isoformat(),
        "events": len(events),
        "lines": len(lines),
        "urgent": int(lines["urgent"].sum()),
        "exceptions": len(new_exc),
    }
    part = lake.stage_partition(store, INTRADAY.path, day.isoformat(), files, meta)
    faults.point(settings, "intraday.after_stage")
    conn.commit_plan(pid, day, part.version, lines, new_exc, published_by="stockwise intraday")
    faults.point(settings, "intraday.after_erp_commit")
    lake.commit_partition(store, part, keep_history=True)
    faults.point(settings, "intraday.before_report")
    out = {**meta, "version": part.version, "day": day.isoformat(), "report": _report(store, p)}
    if meta["urgent"] or len(new_exc):
        out["alerted"] = alerts.intraday_revision(settings, out, lines, new_exc)["sent"]
    log.warning(
        "intraday revision %s of %s: %d line(s) (%d urgent), %d new exception(s), from %d event(s)",
        pid,
        day,
        len(lines),
        meta["urgent"],
        len(new_exc),
        len(events),
    )
    return out


def _stack(before: pd.DataFrame | None, new: pd.DataFrame) -> pd.DataFrame:
    """`before` then `new`, rows of either, the columns of `new` when both are empty."""
    frames = [x for x in (before, new) if x is not None and len(x)]
    return pd.concat(frames, ignore_index=True) if frames else new


def _report_behind(store, p: date) -> bool:
    from stockwise import report

    try:
        return report.intraday_behind(store, p)
    except Exception:
        log.exception("could not compare the report of %s with its intraday revisions", p)
        return False


def _report(store, p: date) -> str | None:
    """The report of the plan in force, re-written with the day's revisions in its intraday
    section. The revision is published already: a report that cannot be written is logged, not
    fatal (the next revision or the next render of the report writes the whole section)."""
    from stockwise import report  # the page's modules, only when there is a revision to show

    try:
        uri = report.add_intraday(store, p)
    except Exception:
        log.exception("the report of %s could not show the intraday revision (it is in the ERP and the lake)", p)
        return None
    if uri is None:
        log.info("no report of %s to show the intraday revision in", p)
    return uri


def _heal(store, conn, day: date, p: date) -> int:
    """The revision number the lake shows for `day`, after flipping any revision the ERP
    committed but the lake never showed (a run killed between the two)."""
    n = int(INTRADAY.manifest(store, day).meta.get("revision", 0)) if INTRADAY.exists(store, day) else 0
    while True:
        pub = conn.publication(_revision_id(p, n + 1))
        if not pub:
            return n
        staged = lake.staged_partition(store, INTRADAY.path, day.isoformat(), pub["version"])
        if staged is None:
            raise StockwiseError(
                f"the ERP holds intraday revision {_revision_id(p, n + 1)} (version {pub['version']}) that the lake "
                "does not have: restore the lake or remove that publication"
            )
        lake.commit_partition(store, staged, keep_history=True)
        log.warning("healed an interrupted intraday publish: the lake now shows %s", _revision_id(p, n + 1))
        n += 1
