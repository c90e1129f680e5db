"""The run lock: one official run per date, a lease that expires, conditional writes that cannot
both win. Exercised on a local lake and (tests/integration) on an S3 server over HTTP."""

import multiprocessing as mp
import time

import pytest

from stockwise import lake, runlock
from stockwise.errors import LakeConflict, RunLocked


@pytest.fixture
def store(tmp_path):
    return lake.LocalStore(tmp_path / "lake")


def test_second_owner_is_refused_clearly_and_gets_it_after_release(store):
    runlock.acquire(store, "plan/2025-12-31", "run-A")
    with pytest.raises(RunLocked, match=r"plan/2025-12-31 is held by another run \(run-A.*stopped without touching"):
        runlock.acquire(store, "plan/2025-12-31", "run-B")
    # the holder renews (a later task of the same run); other dates and scenarios are separate locks
    assert runlock.acquire(store, "plan/2025-12-31", "run-A").owner == "run-A"
    runlock.acquire(store, "plan/2025-12-30", "run-B")
    runlock.acquire(lake.ScenarioStore(store, "whatif-1"), "plan/2025-12-31", "run-C")
    assert not runlock.release(store, "plan/2025-12-31", "run-B")  # never someone else's
    assert runlock.release(store, "plan/2025-12-31", "run-A")
    assert runlock.holder(store, "plan/2025-12-31") is None
    assert runlock.acquire(store, "plan/2025-12-31", "run-B").owner == "run-B"


def test_a_dead_holder_is_taken_over_once_its_lease_runs_out(store):
    runlock.acquire(store, "plan/d", "crashed-run", lease_s=0.3)
    with pytest.raises(RunLocked):
        runlock.acquire(store, "plan/d", "next-run")
    time.sleep(0.4)
    assert runlock.acquire(store, "plan/d", "next-run").owner == "next-run"
    # the crashed run, back from the dead, no longer holds it
    with pytest.raises(RunLocked, match="next-run"):
        runlock.acquire(store, "plan/d", "crashed-run")


def test_a_second_run_waits_for_the_first(store):
    runlock.acquire(store, "plan/d", "first", lease_s=60)

    def later_release():
        time.sleep(0.5)
        runlock.release(store, "plan/d", "first")

    import threading

    threading.Thread(target=later_release).start()
    t0 = time.monotonic()
    assert runlock.acquire(store, "plan/d", "second", wait_s=10, poll_s=0.1).owner == "second"
    assert 0.4 < time.monotonic() - t0 < 5


def test_held_renews_the_lease_while_a_long_job_runs(store):
    with runlock.held(store, "plan/d", "long-job", lease_s=0.6):
        time.sleep(1.5)  # longer than the lease: the heartbeat keeps it
        with pytest.raises(RunLocked):
            runlock.acquire(store, "plan/d", "intruder")
    assert runlock.holder(store, "plan/d") is None  # given back at the end


def test_conditional_writes_refuse_a_stale_version(store):
    etag = store.put_if("k.json", b"1", None)
    with pytest.raises(LakeConflict):
        store.put_if("k.json", b"2", None)
    with pytest.raises(LakeConflict):
        store.put_if("k.json", b"2", "not-the-etag")
    store.put_if("k.json", b"3", etag)
    assert store.get("k.json") == b"3"


def _contend(root: str, owner: str, start: float, out) -> None:
    s = lake.LocalStore(root)
    while time.time() < start:
        time.sleep(0.001)
    try:
        runlock.acquire(s, "plan/race", owner)
        out.put(owner)
    except RunLocked:
        out.put(None)


def test_processes_racing_for_the_lock_exactly_one_wins(tmp_path):
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    start = time.time() + 0.5
    procs = [ctx.Process(target=_contend, args=(str(tmp_path / "lake"), f"p{i}", start, out)) for i in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(20)
    winners = [w for w in (out.get(timeout=5) for _ in procs) if w]
    assert len(winners) == 1
    assert runlock.holder(lake.LocalStore(tmp_path / "lake"), "plan/race")["owner"] == winners[0]


def test_a_second_make_run_of_the_date_is_refused_while_the_first_goes(tmp_path, monkeypatch):
    """`make run` twice at once: the second `airflow dags test` would delete the first's DagRun,
    so stockwise.guard refuses it (exit 75, who holds it), and refuses while the lake says a run
    elsewhere holds the date; once the first has ended the next one starts."""
    import subprocess
    import sys

    monkeypatch.setenv("STOCKWISE_HOME", str(tmp_path))
    guard = [sys.executable, "-m", "stockwise.guard", "--dag", "inventory_planning", "--ds", "2025-12-31", "--"]
    marker = tmp_path / "started"
    first = subprocess.Popen([*guard, sys.executable, "-c", f"open({str(marker)!r}, 'w'); import time; time.sleep(30)"])
    try:
        deadline = time.monotonic() + 30
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        second = subprocess.run([*guard, "true"], capture_output=True, text=True, timeout=60)
        assert second.returncode == 75, second.stderr
        assert "not starting inventory_planning for 2025-12-31: a run of it is going on this machine" in second.stderr
        assert f'"pid": {first.pid}' in second.stderr
    finally:
        first.kill()
        first.wait()
    assert subprocess.run([*guard, "true"], timeout=60).returncode == 0  # the lock went with its process
    # a run elsewhere (the scheduler) holds the date in the lake
    store = lake.LocalStore(tmp_path / "lake")
    runlock.acquire(store, "plan/2025-12-31", "airflow:inventory_planning:scheduled__2025-12-31", lease_s=600)
    third = subprocess.run([*guard, "true"], capture_output=True, text=True, timeout=60)
    assert third.returncode == 75 and "airflow:inventory_planning:scheduled__2025-12-31" in third.stderr
    other_day = [*guard[:-2], "2025-12-30", "--", "true"]
    assert subprocess.run(other_day, timeout=60).returncode == 0
