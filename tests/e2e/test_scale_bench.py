"""`bench/scale.py` runs tiny in the suite (`--sizes`): every planning stage measured from outside
(wall, CPU, peak memory of the job and of its JVM, rows), exponents between sizes, table and plot."""

import importlib.util
import json
import math
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.spark, pytest.mark.slow, pytest.mark.browser]


def test_scale_bench_measures_every_planning_stage_at_two_sizes(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("scale", REPO / "bench" / "scale.py")
    scale = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(scale)
    out, png = tmp_path / "scale.json", tmp_path / "scale.png"
    args = ["--sizes", "8", "16", "--stores", "2", "--days", "120", "--work", str(tmp_path / "w"), "--browser"]
    args += ["--training", "--training-upto", "8"]  # the training DAG's jobs on the smaller size only
    assert scale.main([*args, "--json", str(out), "--png", str(png)]) == 0
    results = json.loads(out.read_text())
    assert [r["series"] for r in results] == [8, 16]
    for r in results:
        jobs = [s["job"] for s in r["stages"]]
        assert jobs == ["demo_erp", *scale.PLANNING, *(scale.TRAINING if r["series"] == 8 else ())]
        assert (r["training_jobs_s"] or 0) > 0 if r["series"] == 8 else r["training_jobs_s"] is None
        for s in r["stages"]:
            assert s["wall_s"] > 0 and s["cpu_s"] > 0 and s["peak_py_mb"] > 50, s
        by = {s["job"]: s for s in r["stages"]}
        assert by["build_features"]["peak_jvm_mb"] > 100  # Spark's JVM is measured apart
        assert by["extract"]["rows_out"] > 0 and by["forecast"]["rows_in"] == r["series"]
        assert math.isclose(r["planning_dag_s"], sum(by[j]["wall_s"] for j in scale.PLANNING), abs_tol=0.2)
        # the report as the planner opens it: every order line on the page, searchable, no console error
        b = r["report_browser"]
        assert b["worklist_count"] == f"{b['worklist_rows']} of {b['worklist_rows']} shown", b
        assert b["index_html_kb"] > 10 and b["load_s"] > 0 and b["console_errors"] == [], b
        assert b["worklist_rows"] == 0 or 1 <= b["search_rows"] <= b["worklist_rows"], b
    exp = scale.exponents(results)
    assert set(exp) == {"demo_erp", *scale.PLANNING, *scale.TRAINING} and all(len(v) == 1 for v in exp.values())
    assert exp["train_forecast"] == [None]  # no training at 16 series: no exponent
    printed = capsys.readouterr().out
    assert "| build_features |" in printed and "exponent 8->16" in printed and "planning DAG (sum)" in printed
    assert "| train_forecast |" in printed and "training DAG jobs (sum)" in printed
    assert png.stat().st_size > 10_000

    # the same lake's training on a standalone cluster of two one-core workers: every partition
    # fit is a Spark task, and the event log shows both workers running them
    spec = importlib.util.spec_from_file_location("spark_cluster", REPO / "bench" / "spark_cluster.py")
    cluster = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cluster)
    figures = tmp_path / "cluster.json"
    assert cluster.main(["--home", str(tmp_path / "w" / "n8"), "--json", str(figures)]) == 0
    got = json.loads(figures.read_text())
    assert got["job"]["wall_s"] > 0 and got["summary"]["failed_tasks"] == 0, got
    assert set(got["summary"]["busy_s"]) == {"worker1", "worker2"}, got["summary"]  # both ran tasks
    printed = capsys.readouterr().out
    assert "worker1: tasks / busy s | worker2: tasks / busy s |" in printed, printed
