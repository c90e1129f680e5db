"""Stock events through the real queue, triggerer, scheduler and Celery worker: how long from an
event to the end of the run that replanned it, and the rate at which the DAG falls behind (issue #19).

    .venv/bin/python bench/events.py [--rates 100 1000 3000] [--minutes 3]

Starts the production stack as processes (`stockwise.stack.up`, a small demo ERP), runs the
planning DAG once for the plan in force, unpauses `stock_events`, then for each rate (events
per minute) publishes sales of the plan's positions for `--minutes` at that pace (a publish
every second), and measures for every event the time from its publish to the end of the
`stock_events` run that kept it in the lake and replanned it (that run's revision, if any, is
published before it ends). Printed per rate: events, runs, p50/p95/max latency, the events
still queued when publishing stopped, and the throughput. The stack is stopped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np

from stockwise import stack
from stockwise.eventqueue import CHANNEL, EventQueue

DS = date(2025, 12, 31)
DAY = DS + timedelta(days=1)


def _lake(st: stack.Stack):
    from stockwise import lake
    from stockwise.settings import Settings

    env = st.stockwise_env()
    return lake.open_official(
        Settings(
            lake_url=env["STOCKWISE_LAKE_URL"],
            s3_endpoint_url=env["STOCKWISE_S3_ENDPOINT_URL"],
            aws_access_key_id=env["STOCKWISE_AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["STOCKWISE_AWS_SECRET_ACCESS_KEY"],
        )
    )


def _kept(store) -> set[str]:
    from stockwise.catalog import EVENTS

    return set(EVENTS.read(store, DAY)["id"]) if EVENTS.exists(store, DAY) else set()


def _runs(st: stack.Stack, api: stack.Api) -> list[dict]:
    return stack.runs_of(st, "stock_events", api)


def _ts(s: str | None) -> float | None:
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() if s else None


def measure(st: stack.Stack, api: stack.Api, store, queue: EventQueue, positions, rate: int, minutes: float) -> dict:
    """Publish `rate` events a minute for `minutes`; the latency of each to its run's end."""
    rng = random.Random(rate)
    sent: dict[str, float] = {}
    seen: dict[str, float] = {}
    before = {r["dag_run_id"] for r in _runs(st, api)}
    t0 = time.time()
    n = 0
    per_s = rate / 60.0
    while time.time() - t0 < minutes * 60:
        due = int((time.time() - t0) * per_s) + 1 - n
        batch = []
        for _ in range(max(due, 0)):
            sku, loc = rng.choice(positions)
            eid = f"bench-{rate}-{n}"
            minute = (n * 600) // max(int(rate * minutes), 1)
            at = f"{DAY}T{9 + minute // 60:02d}:{minute % 60:02d}:00+00:00"
            batch.append(
                json.dumps({"v": 1, "id": eid, "kind": "movement", "sku": sku, "location_id": loc, "qty": -1, "at": at})
            )
            sent[eid] = time.time()
            n += 1
        if batch:
            queue.publish(batch)
        now_kept = _kept(store)
        for eid in now_kept & sent.keys() - seen.keys():
            seen[eid] = time.time()
        time.sleep(max(0.0, 1.0 - (time.time() - t0) % 1.0))
    queued_at_stop = queue.backlog()
    stop = time.time()
    deadline = stop + 600
    while len(seen) < len(sent) and time.time() < deadline:
        for eid in _kept(store) & sent.keys() - seen.keys():
            seen[eid] = time.time()
        time.sleep(1)
    # each event's run: the first run (of this rate) to end after the event reached the lake
    deadline = time.time() + 300
    while True:
        runs = [r for r in _runs(st, api) if r["dag_run_id"] not in before]
        if all(r["state"] in ("success", "failed") for r in runs) or time.time() > deadline:
            break
        time.sleep(2)
    ends = sorted(e for r in runs if r["state"] == "success" and (e := _ts(r.get("end_date"))))
    lat = []
    for eid, t_pub in sent.items():
        t_seen = seen.get(eid)
        if t_seen is None:
            continue
        end = next((e for e in ends if e >= t_seen - 2), None)  # the run ends a moment after its lake write
        if end is not None:
            lat.append(end - t_pub)
    lat_a = np.array(lat) if lat else np.array([np.nan])
    return {
        "rate_per_min": rate,
        "events": len(sent),
        "kept": len(seen),
        "runs": len(runs),
        "failed_runs": sum(r["state"] == "failed" for r in runs),
        "p50_s": round(float(np.nanpercentile(lat_a, 50)), 1),
        "p95_s": round(float(np.nanpercentile(lat_a, 95)), 1),
        "max_s": round(float(np.nanmax(lat_a)), 1),
        "queued_at_stop": queued_at_stop,
        "drain_s": round((max(seen.values()) if seen else stop) - stop, 1),
        "throughput_per_min": round(len(seen) / max((max(seen.values()) if seen else stop) - t0, 1) * 60, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", type=int, nargs="+", default=[100, 1000, 3000], help="events per minute")
    ap.add_argument("--minutes", type=float, default=3.0, help="minutes of publishing per rate")
    ap.add_argument("--skus", type=int, default=20)
    ap.add_argument("--stores", type=int, default=5)
    ap.add_argument("--home", default=None, help="the stack's folder (default: a temporary one)")
    ap.add_argument("--json", default=None, help="write the figures here")
    a = ap.parse_args(argv)
    home = Path(a.home or tempfile.mkdtemp(prefix="stockwise-events-bench-"))
    running = False
    with contextlib.suppress(stack.StackError):  # no stack there yet
        running = any(stack.alive(s) for s in stack.Stack.load(home.resolve()).services.values())
    if running:  # a stack already up under --home: used as it is, and left running
        print(f"[events] using the running stack in {home}", flush=True)
        st = stack.Stack.load(home.resolve())
    else:
        print(f"[events] starting the stack in {home}", flush=True)
        off = {"AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False"}  # on below, once the nightly DAGs are paused
        st = stack.up(home, "swbench_events", (a.skus, a.stores, 150, 7, DS), worker_memory="1g", airflow_extra=off)
    rows = []
    try:
        api = stack.Api(st)
        from stockwise.catalog import PLANS

        store = _lake(st)
        if not PLANS.exists(store, DS):
            rid = stack.trigger(st, "inventory_planning", DS, api=api)
            if stack.wait_run(st, "inventory_planning", rid, 1800, api)["state"] != "success":
                raise SystemExit("the planning run failed: no plan in force to replan")
        plan = PLANS.read(store, DS, "all_positions.parquet")
        positions = list(zip(plan["sku"].astype(str), plan["location_id"].astype(str), strict=True))
        for dag_id in ("inventory_planning", "model_training", "shelf_vision"):  # the demo ends on DS
            api.call(f"/api/v2/dags/{dag_id}", "PATCH", {"is_paused": True})
        stack.set_schedule(st, True)
        api.call("/api/v2/dags/stock_events", "PATCH", {"is_paused": False})
        import redis

        r = redis.Redis.from_url(st.redis_url)
        deadline = time.monotonic() + 300
        while dict(r.pubsub_numsub(CHANNEL)).get(CHANNEL.encode(), 0) < 1:
            if time.monotonic() > deadline:
                raise SystemExit("the triggerer never subscribed to the wake channel")
            time.sleep(2)
        queue = EventQueue(st.redis_url)
        print(f"[events] plan in force {DS}: {len(positions)} positions; the triggerer listens", flush=True)
        for rate in a.rates:
            print(f"[events] {rate} events/min for {a.minutes:g} min", flush=True)
            row = measure(st, api, store, queue, positions, rate, a.minutes)
            print(f"[events]   {json.dumps(row)}", flush=True)
            rows.append(row)
    finally:
        if not running:
            stack.down(home, purge=True)
    print(
        "| events/min | events | kept | runs | p50 s | p95 s | max s | queued at stop | drained in s | throughput/min |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for x in rows:
        print(
            f"| {x['rate_per_min']:,} | {x['events']:,} | {x['kept']:,} | {x['runs']} | {x['p50_s']} | {x['p95_s']} "
            f"| {x['max_s']} | {x['queued_at_stop']:,} | {x['drain_s']} | {x['throughput_per_min']:,} |"
        )
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
