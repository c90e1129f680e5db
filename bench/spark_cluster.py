"""The partitioned LightGBM on a Spark standalone cluster: how the training job spreads (issue #16).

    .venv/bin/python bench/spark_cluster.py --home /tmp/stockwise-scale/n5000 [--workers 2]

Runs the training DAG's `train_forecast` job on a lake an earlier `bench/scale.py` run left
(`--home`), as an Airflow task runs it, with one LightGBM per location trained inside Spark tasks
(`STOCKWISE_LIGHTGBM_PARTITION_BY=location_id`) on a standalone master and `--workers` one-core
workers started from the pyspark package exactly as `make stack-up` starts them (each in its own
mount namespace where the machine allows: the executors see none of the driver's folders, so
the rows travel with the tasks). Measured: the job's wall and CPU time and peak memory (as
`bench/scale.py` measures a stage), and from Spark's event log every task: which worker ran it,
when, and for how long. Printed: a table per stage and per worker, and the busy share of each
worker over the partitioned fits. The cluster is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import run_job  # noqa: E402 (the same measurement as every stage of bench/scale.py)

from stockwise import stack  # noqa: E402
from stockwise.local import local_env  # noqa: E402


def start_cluster(workers: int, memory: str) -> stack.Stack:
    home = Path(tempfile.mkdtemp(prefix="stockwise-cluster-"))
    st = stack.Stack(home=home)
    stack._spark(st, stack.base_env(), workers, memory)
    return st


def stop_cluster(st: stack.Stack) -> None:
    for svc in reversed(list(st.services.values())):
        stack.stop_service(svc)
    shutil.rmtree(st.home, ignore_errors=True)


def worker_of(st: stack.Stack) -> dict[str, str]:
    """Worker UI port -> worker name (an executor's log URL names its worker's UI port)."""
    return {
        str(port): name.replace("_ui", "").replace("spark_", "") for name, port in st.ports.items() if "worker" in name
    }


def read_events(folder: Path, workers: dict[str, str]) -> dict:
    """Tasks per stage and worker from the event logs of every application the job ran (one per
    Spark session it opened)."""
    logs = sorted(p for p in folder.iterdir() if not p.name.endswith(".inprogress"))
    if not logs:
        raise SystemExit(f"no finished Spark event log in {folder}")

    def lines(path: Path) -> list[str]:  # a log file, or a rolling log's folder of events_<n>_ files
        if path.is_file():
            return path.read_text().splitlines()
        files = sorted(path.glob("events_*"), key=lambda f: int(f.name.split("_")[1]))
        return [line for f in files for line in f.read_text().splitlines()]

    stages: dict[str, dict] = {}
    tasks: list[dict] = []
    apps: list[float] = []
    for n, path in enumerate(logs, 1):
        executors: dict[str, str] = {}
        start = end = 0
        for line in lines(path):
            e = json.loads(line)
            kind = e["Event"]
            if kind == "SparkListenerApplicationStart":
                start = e["Timestamp"]
            elif kind == "SparkListenerApplicationEnd":
                end = e["Timestamp"]
            elif kind == "SparkListenerExecutorAdded":
                port = re.search(r"127\.0\.0\.1:(\d+)/", json.dumps(e["Executor Info"].get("Log Urls", {})))
                executors[e["Executor ID"]] = workers.get(port.group(1), "?") if port else "?"
            elif kind == "SparkListenerStageCompleted":
                info = e["Stage Info"]
                stages[f"{n}.{info['Stage ID']}"] = {
                    "name": info["Stage Name"].split(" at ")[0],
                    "tasks": info["Number of Tasks"],
                    "wall_s": (info.get("Completion Time", 0) - info.get("Submission Time", 0)) / 1000,
                }
            elif kind == "SparkListenerTaskEnd":
                ti = e["Task Info"]
                tasks.append(
                    {
                        "stage": f"{n}.{e['Stage ID']}",
                        "worker": executors.get(ti["Executor ID"], ti["Executor ID"]),
                        "start": ti["Launch Time"],
                        "end": ti["Finish Time"],
                        "ok": not ti.get("Failed", False),
                    }
                )
        apps.append((end - start) / 1000 if end else 0.0)
    return {"apps_s": apps, "stages": stages, "tasks": tasks}


def summarize(ev: dict) -> tuple[str, dict]:
    by_stage: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for t in ev["tasks"]:
        by_stage[t["stage"]][t["worker"]].append((t["end"] - t["start"]) / 1000)
    workers = sorted({t["worker"] for t in ev["tasks"]})
    lines = [
        "| stage | tasks | stage wall s | "
        + " | ".join(f"{w}: tasks / busy s" for w in workers)
        + " | each task s (stages of at most 12) |",
        "|---|---:|---:|" + "---:|" * len(workers) + "---|",
    ]
    for sid in sorted(by_stage, key=lambda k: tuple(map(int, k.split(".")))):
        st = ev["stages"].get(sid, {"name": "?", "tasks": sum(len(v) for v in by_stage[sid].values()), "wall_s": 0})
        cells = [f"{len(by_stage[sid][w])} / {sum(by_stage[sid][w]):.1f}" for w in workers]
        each = sorted((d for w in workers for d in by_stage[sid][w]), reverse=True)
        cells.append(", ".join(f"{d:.0f}" for d in each) if len(each) <= 12 else "–")  # a straggler shows here
        lines.append(f"| {sid} {st['name']} | {st['tasks']} | {st['wall_s']:.1f} | " + " | ".join(cells) + " |")
    app_s = sum(ev["apps_s"])
    busy = {w: round(sum((t["end"] - t["start"]) / 1000 for t in ev["tasks"] if t["worker"] == w), 1) for w in workers}
    summary = {
        "applications": len(ev["apps_s"]),
        "app_s": round(app_s, 1),
        "busy_s": busy,
        "busy_share": {w: round(b / app_s, 2) if app_s else None for w, b in busy.items()},
        "tasks": len(ev["tasks"]),
        "failed_tasks": sum(not t["ok"] for t in ev["tasks"]),
    }
    return "\n".join(lines), summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", required=True, help="a STOCKWISE_HOME whose lake bench/scale.py built (features of --ds)")
    ap.add_argument("--ds", default="2025-12-31")
    ap.add_argument("--workers", type=int, default=2, help="one-core Spark workers")
    ap.add_argument("--worker-memory", default="4g")
    ap.add_argument("--partition-by", default="location_id")
    ap.add_argument("--json", default=None, help="write the figures here")
    a = ap.parse_args(argv)
    home = Path(a.home).resolve()
    if not (home / "lake").exists():
        raise SystemExit(f"{home} has no lake: run bench/scale.py first (it keeps each size's home)")
    st = start_cluster(a.workers, a.worker_memory)
    events = Path(tempfile.mkdtemp(prefix="stockwise-eventlog-"))
    try:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("STOCKWISE_")},
            **local_env(),
            "STOCKWISE_HOME": str(home),
            "STOCKWISE_SPARK_MASTER": st.spark_master,
            "STOCKWISE_LIGHTGBM_PARTITION_BY": a.partition_by,
            "PYSPARK_SUBMIT_ARGS": f"--conf spark.eventLog.enabled=true --conf spark.eventLog.dir=file://{events} "
            "--conf spark.eventLog.compress=false pyspark-shell",
        }
        print(
            f"[cluster] {a.workers} workers ({'isolated' if st.isolated_workers else 'sharing folders'}) at "
            f"{st.spark_master}; train_forecast on {home}",
            flush=True,
        )
        t0 = time.monotonic()
        with open(home / "bench-cluster.log", "a") as log:
            job = run_job("train_forecast", a.ds, env, log)
        print(
            f"[cluster] train_forecast {job['wall_s']:.1f} s wall, {job['cpu_s']:.1f} s cpu (driver tree), "
            f"{job['peak_py_mb']:,} MB python, {job['peak_jvm_mb']:,} MB driver jvm ({time.monotonic() - t0:.0f} s)",
            flush=True,
        )
        ev = read_events(events, worker_of(st))
    finally:
        stop_cluster(st)
    table, summary = summarize(ev)
    print(table)
    print(json.dumps(summary))
    if a.json:
        Path(a.json).write_text(json.dumps({"job": job, "summary": summary, "table": table}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
