"""DAG files stay light: parsing them must not import the ML stack."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.dags
def test_importing_dags_pulls_in_no_heavy_library():
    code = (
        "import sys, runpy\n"
        f"for f in sorted(__import__('pathlib').Path({str(REPO / 'dags')!r}).glob('*.py')):\n"
        "    runpy.run_path(str(f))\n"
        "heavy = [m for m in ('pandas', 'pyspark', 'mlflow', 'great_expectations', 'torch', 'lightgbm', 'sklearn')\n"
        "         if m in sys.modules]\n"
        "print(heavy)\n"
        "sys.exit(1 if heavy else 0)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_import_direction_is_held_by_import_linter():
    """dags -> stages -> core; stages never import each other; only the orchestration knows Airflow
    (the contracts are in pyproject.toml, [tool.importlinter])."""
    r = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "2 kept, 0 broken" in r.stdout


def test_every_job_is_declared_once_and_loads():
    from stockwise import jobs

    declared = set(jobs.names())
    assert set(jobs.PLANNING) <= declared
    assert {
        "train_forecast",
        "promote_forecast",
        "train_anomaly",
        "promote_anomaly",
        "count_facings",
        "reconcile_shelf",
        "train_shelf",
        "promote_shelf",
    } <= declared
    for name in jobs.PLANNING:
        assert callable(jobs.load(name))
    # the DAG files call jobs by these names and nothing else
    used = set()
    for f in (REPO / "dags").glob("*.py"):
        used |= set(re.findall(r'_call\("(\w+)"', f.read_text()))
    assert used and used <= declared, used - declared
