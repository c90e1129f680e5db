"""The publish protocol under a killed process: at every step, lake, ERP and report end up
naming the same plan version, and a rerun heals without duplicating a line.

The kill is real: `STOCKWISE_FAULT_POINT` makes the `stockwise publish` subprocess `os._exit`
on the spot (no cleanup, no `finally`), as a killed worker would.
"""

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time

import pandas as pd
import pytest

from stockwise import lake
from stockwise.cli import main
from stockwise.settings import Settings
from support.demo import TINY_DS

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.spark]
D = TINY_DS.isoformat()


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory, tiny_demo):
    """A home where plan version A is published and a different plan B is staged (a lower target)."""
    from stockwise.erp.demo import write

    home = tmp_path_factory.mktemp("publish") / "stockwise"
    home.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        for k in [k for k in os.environ if k.startswith("STOCKWISE_")]:
            mp.delenv(k)
        mp.setenv("STOCKWISE_HOME", str(home))
        mp.setenv("STOCKWISE_SPARK_MASTER", "local[1]")
        s = Settings()
        write(tiny_demo, s.erp, s.truth)
        assert main(["-q", "run", "--ds", D]) == 0
        a = lake.read_manifest(lake.open_lake(s), "plans", D).version
        mp.setenv("STOCKWISE_SERVICE_LEVEL", "0.85")  # the official configuration changed: a new plan
        assert main(["-q", "plan", "--ds", D]) == 0
    return home, a


def _fresh(two_versions, tmp_path):
    home, a = two_versions
    dst = tmp_path / "stockwise"
    shutil.copytree(home, dst)
    return dst, a


def _env(home, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKWISE_")}
    env.update({"STOCKWISE_HOME": str(home), "STOCKWISE_SERVICE_LEVEL": "0.85", **extra})
    return env


def _cli(home, *args, fault=None):
    # a killed process cannot give its lock back: a short lease lets the next one take it over
    env = _env(home, **({"STOCKWISE_FAULT_POINT": fault, "STOCKWISE_LOCK_LEASE_MINUTES": "0.03"} if fault else {}))
    return subprocess.run(
        [sys.executable, "-m", "stockwise.cli", "-q", *args, "--ds", D],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _state(home):
    store = lake.LocalStore(home / "lake")
    with sqlite3.connect(home / "erp.db") as c:
        erp = c.execute("SELECT version, lines FROM stockwise_publications WHERE plan_id = ?", (f"SW-{D}",)).fetchone()
        req = pd.read_sql("SELECT * FROM purchase_requisitions", c)
    man = json.loads(store.get(f"plans/ds={D}/manifest.json"))
    rep = json.loads(store.get(f"reports/ds={D}/manifest.json"))
    return {
        "erp": erp[0],
        "erp_lines": erp[1],
        "lake": man["version"],
        "lake_lines": man["meta"]["order_lines"],
        "report": rep["meta"]["plan_version"],
        "requisitions": req,
    }


@pytest.mark.parametrize(
    ("fault", "committed"),
    [
        ("publish.after_stage", False),  # the new version's files are in the lake, not yet in force
        ("publish.in_erp_transaction", False),  # lines written, the transaction never committed
        ("publish.after_erp_commit", True),  # the ERP holds B, the lake's manifest still says A
        ("publish.after_flip", True),  # both say B, the report still shows A
    ],
)
def test_a_publish_killed_at_any_step_leaves_one_plan_version_everywhere(two_versions, tmp_path, fault, committed):
    home, a = _fresh(two_versions, tmp_path)
    before = _state(home)
    assert before["erp"] == before["lake"] == before["report"] == a

    r = _cli(home, "publish", fault=fault)
    assert r.returncode == 86, r.stderr[-2000:]
    assert f"fault injected at {fault}" in r.stderr
    time.sleep(2.5)  # the dead process's lease runs out

    # what a reader finds right after the crash (`where` reconciles first, like report and publish)
    w = _cli(home, "where")
    assert w.returncode == 0, w.stderr[-2000:]
    where = json.loads(w.stdout.strip().splitlines()[-1])
    now = _state(home)
    assert where["plan_version"] == where["erp_plan_version"] == now["lake"] == now["erp"]
    assert (now["erp"] != a) == committed
    if not committed:  # nothing changed in the ERP: the transaction rolled back as a whole
        pd.testing.assert_frame_equal(
            now["requisitions"].sort_values(["sku", "location_id"]).reset_index(drop=True),
            before["requisitions"].sort_values(["sku", "location_id"]).reset_index(drop=True),
        )
    if fault == "publish.after_erp_commit":
        assert where.get("reconciled", "").startswith("healed")

    # the rerun finishes the job: B everywhere, the report too, each line once
    for step in ("publish", "report"):
        r = _cli(home, step)
        assert r.returncode == 0, r.stderr[-2000:]
    end = _state(home)
    assert end["erp"] == end["lake"] == end["report"] != a
    assert end["erp_lines"] == end["lake_lines"] == len(end["requisitions"])
    assert not end["requisitions"].duplicated(["plan_id", "sku", "location_id"]).any()
    page = lake.read_file(lake.LocalStore(home / "lake"), "reports", D, "index.html").decode()
    assert f"version <code>{end['lake']}</code>" in page
    # the orphaned staged files of a crash are cleaned up by the next flip
    versions = {
        k.split("/v=")[1].split("/")[0] for k in lake.LocalStore(home / "lake").list(f"plans/ds={D}/") if "/v=" in k
    }
    assert versions == {end["lake"]}


def test_a_plan_lacking_master_data_publishes_its_exceptions_with_the_lines(two_versions, tmp_path):
    home, _ = _fresh(two_versions, tmp_path)
    with sqlite3.connect(home / "erp.db") as c:
        sku = c.execute("SELECT sku FROM items ORDER BY sku LIMIT 1").fetchone()[0]
        c.execute("UPDATE items SET unit_cost = NULL WHERE sku = ?", (sku,))
    env = _env(home)
    r = subprocess.run(
        [sys.executable, "-m", "stockwise.cli", "-q", "run", "--ds", D],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    with sqlite3.connect(home / "erp.db") as c:
        exc = pd.read_sql("SELECT * FROM planning_exceptions", c)
        req = pd.read_sql("SELECT * FROM purchase_requisitions", c)
    assert set(exc["sku"]) == {sku} and set(exc["kind"]) == {"needs_master_data"}
    assert exc["detail"].str.contains("unit cost").all()
    assert sku not in set(req["sku"])
    store = lake.LocalStore(home / "lake")
    page = lake.read_file(store, "reports", D, "index.html").decode()
    assert "Needs master data" in page and sku in page
    assert len(pd.read_csv(store.uri(lake.read_manifest(store, "plans", D).key("exceptions.csv")))) == len(exc)
