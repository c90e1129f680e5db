"""Turn `airflow dags test` output into short progress lines (the full log is kept in a file).

airflow dags test inventory_planning 2025-12-31 | python -m stockwise.progress [--record]
stockwise -q where --ds 2025-12-31 | python -m stockwise.progress --summary

`--record` (what `make run` and `make train` use) also files each task's lines where the Airflow
UI reads task logs and gives the run its real start (`orchestration.record_dag_test`).
"""

from __future__ import annotations

import json
import re
import sys
import time

START = re.compile(r"\[DAG TEST\] starting task_id=(\w+)")
END = re.compile(r"\[DAG TEST\] end task task_id=(\w+)")
OURS = re.compile(r"\[info\s*\]\s+(.*?)\s+\[(stockwise[\w.]*)\]")
TROUBLE = re.compile(r"\[(error|critical)\s*\]|Traceback|AirflowFailException|ValidationFailed|state=failed")
FINISHED = re.compile(r"DagRun Finished: .*?state=(\w+)")
RUNNING = re.compile(r"\[DAG TEST\] running task <TaskInstance: ([\w.-]+?)\.(\w+) (\S+) \[")


def follow(lines, record: bool = False) -> int:
    started: dict[str, float] = {}
    state = None
    run: tuple[str, str] | None = None  # (dag_id, run_id)
    attempts: dict[tuple[str, int], list[str]] = {}
    tries: dict[str, int] = {}
    current: tuple[str, int] | None = None
    for line in lines:
        if m := START.search(line):
            tries[m.group(1)] = tries.get(m.group(1), 0) + 1
            current = (m.group(1), tries[m.group(1)])
            attempts[current] = []
        if current is not None:
            attempts[current].append(line)
        if m := RUNNING.search(line):
            run = (m.group(1), m.group(3))
        if END.search(line):
            current = None
        if m := START.search(line):
            started[m.group(1)] = time.monotonic()
            print(f"[stockwise] ▶ {m.group(1)}", flush=True)
        elif m := END.search(line):
            secs = time.monotonic() - started.get(m.group(1), time.monotonic())
            print(f"[stockwise] ✓ {m.group(1)} ({secs:.0f}s)", flush=True)
        elif m := FINISHED.search(line):
            state = m.group(1)
        elif m := OURS.search(line):
            msg = m.group(1)
            if not msg.startswith("wrote ") and " -> {" not in msg:
                print(f"[stockwise]     {msg}", flush=True)
        elif TROUBLE.search(line) or line.startswith("[stockwise]"):
            print(line.rstrip(), flush=True)
    if record and run:
        try:
            from stockwise.orchestration import record_dag_test

            record_dag_test(run[0], run[1], attempts)
            print(f"[stockwise] task logs filed for the Airflow UI (run {run[1]})", flush=True)
        except Exception as e:  # noqa: BLE001 - the run's outcome matters more than its filing
            print(f"[stockwise] could not file the task logs for the Airflow UI: {e}", flush=True)
    if state != "success":
        print(f"[stockwise] the DAG run did not succeed (state: {state}); see the full log", flush=True)
        return 1
    print("[stockwise] the DAG run succeeded", flush=True)
    return 0


def summary(text: str) -> int:
    data = json.loads(text.strip().splitlines()[-1])
    labels = {
        "plan_version": "plan version (lake)",
        "erp_plan_version": "plan version (ERP)",
        "in_progress": "a run holds this date",
        "reconciled": "reconciled",
        "reorder_plan_csv": "reorder plan (CSV)",
        "report": "planner report",
        "report_xlsx": "plan (Excel)",
        "data_docs": "data quality docs",
        "quarantined": "quarantined extracts",
        "lake": "lake",
        "mlflow": "MLflow store",
        "erp": "ERP (requisitions)",
    }
    print(f"\nStockwise plan for {data['ds']}:")
    for key, label in labels.items():
        if key in data:
            print(f"  {label:<22} {data[key]}")
    return 0


def main() -> int:
    if "--summary" in sys.argv:
        return summary(sys.stdin.read())
    return follow(sys.stdin, record="--record" in sys.argv)


if __name__ == "__main__":
    sys.exit(main())
