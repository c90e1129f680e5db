"""`bench/scale.py` runs tiny in the suite (`--sizes`): every planning stage measured from outside
(wall, CPU, peak memory of the job and of its JVM, rows), exponents between sizes, table and plot."""

import importlib.util
import json
import math
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def test_scale_bench_measures_every_planning_stage_at_two_sizes(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("scale", REPO / "bench" / "scale.py")
    scale = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(scale)
    out, png = tmp_path / "scale.json", tmp_path / "scale.png"
    args = ["--sizes", "8", "16", "--stores", "2", "--days", "120", "--work", str(tmp_path / "w")]
    assert scale.main([*args, "--json", str(out), "--png", str(png)]) == 0
    results = json.loads(out.read_text())
    assert [r["series"] for r in results] == [8, 16]
    for r in results:
        jobs = [s["job"] for s in r["stages"]]
        assert jobs == ["demo_erp", *scale.PLANNING]
        for s in r["stages"]:
            assert s["wall_s"] > 0 and s["cpu_s"] > 0 and s["peak_py_mb"] > 50, s
        by = {s["job"]: s for s in r["stages"]}
        assert by["build_features"]["peak_jvm_mb"] > 100  # Spark's JVM is measured apart
        assert by["extract"]["rows_out"] > 0 and by["forecast"]["rows_in"] == r["series"]
        assert math.isclose(r["planning_dag_s"], sum(by[j]["wall_s"] for j in scale.PLANNING), abs_tol=0.2)
    exp = scale.exponents(results)
    assert set(exp) == {"demo_erp", *scale.PLANNING} and all(len(v) == 1 for v in exp.values())
    printed = capsys.readouterr().out
    assert "| build_features |" in printed and "exponent 8->16" in printed and "planning DAG (sum)" in printed
    assert png.stat().st_size > 10_000
