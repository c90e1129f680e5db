"""DAG files stay light: parsing them must not import the ML stack."""

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
        "heavy = [m for m in ('pandas', 'pyspark', 'mlflow', 'great_expectations', 'torch', 'lightgbm', 'sklearn') if m in sys.modules]\n"
        "print(heavy)\n"
        "sys.exit(1 if heavy else 0)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_stage_packages_do_not_import_each_other_or_airflow():
    offenders = []
    for pkg, banned in (
        ("pipelines/stockwise", ("stockwise_features", "stockwise_training", "stockwise_serving")),
        ("features/stockwise_features", ("stockwise_training", "stockwise_serving", "airflow")),
        ("training/stockwise_training", ("stockwise_features", "stockwise_serving", "airflow")),
        ("serving/stockwise_serving", ("stockwise_features", "stockwise_training", "airflow")),
    ):
        for f in (REPO / pkg).rglob("*.py"):
            text = f.read_text()
            for b in banned:
                if f"import {b}" in text or f"from {b}" in text:
                    if f.name == "orchestration.py" and b.startswith("stockwise_"):
                        continue  # the job table names modules by string, it does not import them
                    offenders.append(f"{f.relative_to(REPO)} imports {b}")
    airflow_users = [str(f.relative_to(REPO)) for f in (REPO / "pipelines").rglob("*.py") if "from airflow" in f.read_text()]
    assert offenders == []
    assert airflow_users == ["pipelines/stockwise/orchestration.py"]
