"""Two runs at once: a second official run for the same date waits or stops clearly, scenarios
run beside it, and a fresh home survives processes that open it together. Real processes."""

import json
import os
import subprocess
import sys
import time

import pytest

from stockwise import lake, runlock
from stockwise.settings import Settings
from support.demo import TINY_DS

pytestmark = [pytest.mark.integration, pytest.mark.slow]
D = TINY_DS.isoformat()


def _env(home, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKWISE_")}
    return {**env, "STOCKWISE_HOME": str(home), **extra}


def _start(home, *args, **extra):
    return subprocess.Popen(
        [sys.executable, "-m", "stockwise.cli", *args, "--ds", D],
        env=_env(home, **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_an_official_run_stops_clearly_while_another_holds_the_date(demo_home):
    store = lake.open_lake(Settings())
    runlock.acquire(store, f"plan/{D}", "airflow:inventory_planning:scheduled__2025-12-31", lease_s=600)
    p = _start(demo_home, "run", STOCKWISE_LOCK_WAIT_MINUTES="0")
    out, err = p.communicate(timeout=300)
    assert p.returncode == 2, err[-2000:]
    assert "plan/2025-12-31 is held by another run (airflow:inventory_planning:scheduled__2025-12-31" in err
    assert "stopped without touching it" in err
    assert store.list("raw/") == [] and store.list("plans/") == []  # nothing was pulled, nothing published
    # a scenario is not the official plan: it runs beside the official run
    p = _start(demo_home, "extract", "--scenario", "promo-test", STOCKWISE_LOCK_WAIT_MINUTES="0")
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err[-2000:]
    assert json.loads(out.strip().splitlines()[-1])["scenario"] == "promo-test"
    assert store.list("raw/") == [] and any(
        k.startswith("scenarios/promo-test/raw/erp/sales/") for k in store.list("scenarios/")
    )


def test_two_official_runs_started_together_take_turns(demo_home):
    procs = [_start(demo_home, "extract", STOCKWISE_LOCK_WAIT_MINUTES="2") for _ in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e[-1500:] for _, e in results]
    assert sum("waiting up to 120 s" in err for _, err in results) == 1, [e[-800:] for _, e in results]
    store = lake.open_lake(Settings())
    assert lake.has_partition(store, "raw/erp/sales", D)
    assert runlock.holder(store, f"plan/{D}") is None
    # without waiting, the one that comes second stops with a clear message instead
    procs = [_start(demo_home, "extract", STOCKWISE_LOCK_WAIT_MINUTES="0") for _ in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    codes = sorted(p.returncode for p in procs)
    if codes == [0, 2]:  # both asked at the same instant: exactly one ran
        assert sum("held by another run" in err for _, err in results) == 1
    else:  # the first finished before the second asked: both ran, one after the other
        assert codes == [0, 0]


def test_processes_opening_a_fresh_mlflow_store_together_all_succeed(home):
    code = (
        "import sys, time\n"
        "from stockwise.settings import Settings\nfrom stockwise.tracking import use_mlflow\n"
        "t = float(sys.argv[1])\nwhile time.time() < t: time.sleep(0.001)\n"
        "print(use_mlflow(Settings(), 'stockwise-forecast'))\n"
    )
    start = str(time.time() + 8)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, start],
            env=_env(home),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    results = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [e[-1500:] for _, e in results]
    assert len({out.strip().splitlines()[-1] for out, _ in results}) == 1  # one experiment, not three
