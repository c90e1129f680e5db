"""How each stage grows with the number of sku x location series (issue #16's measurement).

    .venv/bin/python bench/scale.py [--sizes 1000 5000 20000] [--stores 5] [--days 730] [--training]

For each size: the demo ERP of size/stores skus x stores x days (`stockwise demo-erp --direct`:
every store buys from its suppliers, no DC), then the
planning DAG's jobs in the DAG's order (extract, validate, build_features, forecast,
detect_anomalies, plan, publish, report; with `--training` then the training DAG's own jobs:
train_forecast, promote_forecast, train_anomaly, promote_anomaly), each in its own process as an
Airflow task runs it (`orchestration.call`, the same function the tasks call), measured from
outside:

- wall time; CPU time of the job's process tree (the job and its Spark JVM), from the last
  reading of each process;
- peak resident memory of the job's Python process and, separately, of its JVM (sampled every
  0.2 s);
- rows in and out, from the job's result.

The growth exponent of a stage between two sizes is log(t2/t1) / log(n2/n1): 1 is linear. The
results go to a JSON file, a markdown table (printed) and a log-log plot. Each size gets its own
STOCKWISE_HOME under --work (embedded default: SQLite ERP, local lake, Spark local[2]).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from stockwise.local import local_env

REPO = Path(__file__).resolve().parents[1]
PLANNING = ("extract", "validate", "build_features", "forecast", "detect_anomalies", "plan", "publish", "report")
TRAINING = ("train_forecast", "promote_forecast", "train_anomaly", "promote_anomaly")
RUNNER = (
    "import json, sys\n"
    "from stockwise.orchestration import call\n"
    "out = call(sys.argv[1], sys.argv[2])\n"
    "print('RESULT ' + json.dumps(out, default=str))\n"
)


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


class Sampler:
    """Peak RSS of a process (Python) and of its Java descendants, and the CPU time of the tree."""

    def __init__(self, pid: int, every: float = 0.2) -> None:
        self.root = psutil.Process(pid)
        self.every = every
        self.peak_py = self.peak_jvm = 0
        self.cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                procs = []
            jvm = 0
            for p in procs:
                try:
                    rss = p.memory_info().rss
                    t = p.cpu_times()
                    self.cpu[p.pid] = t.user + t.system
                    if p.pid == self.root.pid:
                        self.peak_py = max(self.peak_py, rss)
                    elif "java" in p.name():
                        jvm += rss
                except psutil.Error:
                    continue
            self.peak_jvm = max(self.peak_jvm, jvm)
            self._stop.wait(self.every)

    def stop(self) -> None:
        self._stop.set()
        self._t.join()


def rows_of(job: str, out: dict) -> tuple[int | None, int | None]:
    """(rows in, rows out) of a job's result, where it says them."""

    def total(v):
        return sum(v.values()) if isinstance(v, dict) else v

    if job in ("extract", "validate"):
        return total(out.get("rows")), total(out.get("rows"))
    if job == "build_features":
        return None, out.get("rows")
    if job == "forecast":
        return out.get("series"), out.get("rows")
    if job == "detect_anomalies":
        return None, out.get("alerts")
    if job == "plan":
        return out.get("lines"), out.get("order_lines")
    if job in ("publish", "report"):
        return out.get("lines") or out.get("order_lines"), out.get("requisitions_upserted") or out.get("order_lines")
    return None, None


def run_job(job: str, ds: str, env: dict, log) -> dict:
    t0 = time.monotonic()
    p = subprocess.Popen(
        [sys.executable, "-c", RUNNER, job, ds], env=env, stdout=subprocess.PIPE, stderr=log, text=True, cwd=REPO
    )
    s = Sampler(p.pid)
    out, _ = p.communicate()
    s.stop()
    wall = time.monotonic() - t0
    if p.returncode != 0:
        raise SystemExit(f"{job} failed (exit {p.returncode}); see {log.name}")
    result = json.loads(next(x for x in out.splitlines() if x.startswith("RESULT "))[7:])
    rin, rout = rows_of(job, result)
    return {
        "job": job,
        "wall_s": round(wall, 2),
        "cpu_s": round(sum(s.cpu.values()), 2),
        "peak_py_mb": round(s.peak_py / 2**20),
        "peak_jvm_mb": round(s.peak_jvm / 2**20),
        "rows_in": rin,
        "rows_out": rout,
    }


def browse_report(home: Path, ds: str) -> dict:
    """The size's report as a planner opens it in headless Chromium: its weight, the time to load
    and to search, the worklist rows on the page against the order lines, and console errors."""
    from stockwise import lake
    from stockwise.catalog import REPORTS
    from stockwise.screenshots import open_report
    from stockwise.settings import Settings

    store = lake.open_lake(Settings(home=home))
    part = REPORTS.manifest(store, ds)
    sizes = {n: len(store.get(part.key(n))) for n in part.files}
    with open_report(store.uri(part.key("index.html"))) as r:
        page = r.page
        load_ms = page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd")
        rows = page.locator("#worklist tbody tr:not([hidden])")
        bar = page.locator(".tools[data-table='worklist']")
        shown, of = rows.count(), bar.locator(".count").text_content()
        sku = rows.first.locator("td").nth(1).text_content() if shown else ""
        t0 = time.monotonic()
        bar.locator("input").fill(sku or "x")
        found = rows.count()
        search_s = time.monotonic() - t0
        errors = list(r.errors)
    return {
        "index_html_kb": round(sizes["index.html"] / 1024),
        "report_mb": round(sum(sizes.values()) / 2**20, 1),
        "line_pages": sum(1 for n in sizes if n.endswith(".html") and n != "index.html"),
        "load_s": round(load_ms / 1000, 2),
        "worklist_rows": shown,
        "worklist_count": of,
        "search_s": round(search_s, 2),
        "search_rows": found,
        "console_errors": errors,
    }


def run_size(n: int, a: argparse.Namespace) -> dict:
    skus = max(1, round(n / a.stores))
    home = Path(a.work) / f"n{skus * a.stores}"
    if home.exists() and not a.keep:
        import shutil

        shutil.rmtree(home)
    home.mkdir(parents=True, exist_ok=True)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("STOCKWISE_")},
        **local_env(),
        "STOCKWISE_HOME": str(home),
    }
    series = skus * a.stores
    stages = []
    with open(home / "bench.log", "a") as log:
        print(f"[scale] {series:,} series ({skus} skus x {a.stores} stores x {a.days} days) in {home}", flush=True)
        if not (home / "erp.db").exists():
            t0 = time.monotonic()
            cmd = [_bin("stockwise"), "-q", "demo-erp", "--skus", str(skus), "--stores", str(a.stores)]
            # stores buying direct, as every figure of docs/benchmarks.md's scale table was measured
            cmd += ["--days", str(a.days), "--end", a.ds, "--seed", "7", "--direct"]
            p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
            s = Sampler(p.pid)
            out, _ = p.communicate()
            s.stop()
            if p.returncode != 0:
                raise SystemExit(f"demo-erp failed; see {log.name}")
            rows = json.loads(out.strip().splitlines()[-1])["rows"]
            stages.append(
                {
                    "job": "demo_erp",
                    "wall_s": round(time.monotonic() - t0, 2),
                    "cpu_s": round(sum(s.cpu.values()), 2),
                    "peak_py_mb": round(s.peak_py / 2**20),
                    "peak_jvm_mb": 0,
                    "rows_in": None,
                    "rows_out": sum(rows.values()),
                }
            )
            print(f"[scale]   demo_erp {stages[-1]['wall_s']:.0f} s, {stages[-1]['peak_py_mb']:,} MB", flush=True)
        train = a.training and (a.training_upto is None or series <= a.training_upto)
        for job in (() if a.no_planning else PLANNING) + (TRAINING if train else ()):
            r = run_job(job, a.ds, env, log)
            stages.append(r)
            print(
                f"[scale]   {job:<17} {r['wall_s']:7.1f} s wall {r['cpu_s']:7.1f} s cpu "
                f"{r['peak_py_mb']:6,} MB python {r['peak_jvm_mb']:6,} MB jvm",
                flush=True,
            )
    planning = sum(s["wall_s"] for s in stages if s["job"] in PLANNING)
    training = sum(s["wall_s"] for s in stages if s["job"] in TRAINING)
    browser = browse_report(home, a.ds) if a.browser and not a.no_planning else None
    if browser:
        print(f"[scale]   report in Chromium: {json.dumps(browser)}", flush=True)
    return {
        "report_browser": browser,
        "series": series,
        "skus": skus,
        "stores": a.stores,
        "days": a.days,
        "stages": stages,
        "planning_dag_s": round(planning, 1),
        "training_jobs_s": round(training, 1) if train else None,
    }


def merge(runs: list[list[dict]]) -> list[dict]:
    """Runs on the same homes (planning in one, --no-planning --training in another) as one result
    per size: the stages of every run, the first run's measurement of a stage kept."""
    by: dict[int, dict] = {}
    for run in runs:
        for r in run:
            into = by.setdefault(r["series"], {**r, "stages": []})
            have = {s["job"] for s in into["stages"]}
            into["stages"] += [s for s in r["stages"] if s["job"] not in have]
            into["report_browser"] = into.get("report_browser") or r.get("report_browser")
    out = [by[n] for n in sorted(by)]
    order = {job: i for i, job in enumerate(("demo_erp", *PLANNING, *TRAINING))}
    for r in out:
        r["stages"].sort(key=lambda s: order.get(s["job"], len(order)))
        r["planning_dag_s"] = round(sum(s["wall_s"] for s in r["stages"] if s["job"] in PLANNING), 1)
        t = sum(s["wall_s"] for s in r["stages"] if s["job"] in TRAINING)
        r["training_jobs_s"] = round(t, 1) if t else None
    return out


def exponents(results: list[dict]) -> dict[str, list[float | None]]:
    """Per stage, the growth exponent between each pair of consecutive sizes (None where a size
    lacks the stage)."""
    out: dict[str, list[float | None]] = {}
    for lo, hi in zip(results, results[1:], strict=False):
        a = {s["job"]: s["wall_s"] for s in lo["stages"]}
        b = {s["job"]: s["wall_s"] for s in hi["stages"]}
        for job in _jobs(results):
            if a.get(job, 0) > 0 and b.get(job, 0) > 0 and hi["series"] != lo["series"]:
                out.setdefault(job, []).append(
                    round(math.log(b[job] / a[job]) / math.log(hi["series"] / lo["series"]), 2)
                )
            else:
                out.setdefault(job, []).append(None)
    return out


def _jobs(results: list[dict]) -> list[str]:
    """Every stage any size ran, in the order they ran (training may stop at a smaller size)."""
    return list(dict.fromkeys(s["job"] for r in results for s in r["stages"]))


def table(results: list[dict]) -> str:
    exp = exponents(results)
    sizes = [r["series"] for r in results]
    head = "| stage | " + " | ".join(f"{n:,} series: wall s / cpu s / MB py / MB jvm" for n in sizes)
    head += "".join(f" | exponent {a:,}->{b:,}" for a, b in zip(sizes, sizes[1:], strict=False)) + " |"
    lines = [head, "|---|" + "---:|" * (len(sizes) + max(0, len(sizes) - 1))]
    for job in _jobs(results):
        cells = []
        for r in results:
            s = next((x for x in r["stages"] if x["job"] == job), None)
            cells.append(
                f"{s['wall_s']:,.1f} / {s['cpu_s']:,.1f} / {s['peak_py_mb']:,} / {s['peak_jvm_mb']:,}" if s else "-"
            )
        cells += ["-" if k is None else f"{k:.2f}" for k in exp.get(job, [])]
        lines.append(f"| {job} | " + " | ".join(cells) + " |")
    k = [
        f"{math.log(b['planning_dag_s'] / a['planning_dag_s']) / math.log(b['series'] / a['series']):.2f}"
        if a["planning_dag_s"] and b["planning_dag_s"]
        else "-"
        for a, b in zip(results, results[1:], strict=False)
    ]
    if any(r["planning_dag_s"] for r in results):
        total = [f"**{r['planning_dag_s']:,.1f} s**" if r["planning_dag_s"] else "-" for r in results]
        lines.append("| **planning DAG (sum)** | " + " | ".join(total + k) + " |")
    if any(r.get("training_jobs_s") for r in results):
        cells = [f"**{r['training_jobs_s']:,.1f} s**" if r.get("training_jobs_s") else "-" for r in results]
        lines.append("| **training DAG jobs (sum)** | " + " | ".join(cells + ["" for _ in k]) + " |")
    return "\n".join(lines)


def _log_log(ax, ylabel: str, title: str) -> None:
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("sku x location series")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, ncol=2)


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, mx) = plt.subplots(1, 2, figsize=(13, 5))
    sizes = [r["series"] for r in results]
    jobs = _jobs(results)
    # one colour per stage (more stages than the default cycle has colours); training dashed
    style = {j: {"color": plt.cm.tab20(i % 20), "ls": "--" if j in TRAINING else "-"} for i, j in enumerate(jobs)}
    for job in jobs:
        ys = [next((s["wall_s"] for s in r["stages"] if s["job"] == job), float("nan")) for r in results]
        ax.plot(sizes, ys, marker="o", label=job, **style[job])
    tot = [r["planning_dag_s"] for r in results]
    if all(tot):
        ax.plot(sizes, tot, marker="s", color="black", lw=2, label="planning DAG")
        lin = [tot[0] * n / sizes[0] for n in sizes]
        ax.plot(sizes, lin, ls="--", color="#9aa5b1", label="linear from the smallest")
    _log_log(ax, "wall seconds", "Stockwise stages by size (2 cores, embedded default)")
    for job in jobs:
        ys = [
            next((s["peak_py_mb"] + s["peak_jvm_mb"] for s in r["stages"] if s["job"] == job), float("nan")) / 1024
            for r in results
        ]
        mx.plot(sizes, ys, marker="o", label=job, **style[job])
    mx.axhline(8, color="#e12d39", ls="--", label="8 GiB goal per task")
    _log_log(mx, "peak memory, GiB (Python + its JVM)", "Peak memory per task process")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 20000], help="series per run")
    ap.add_argument("--stores", type=int, default=5, help="stores (skus = size / stores)")
    ap.add_argument("--days", type=int, default=730, help="days of history")
    ap.add_argument("--ds", default="2025-12-31", help="run date (the demo's last day)")
    ap.add_argument("--training", action="store_true", help="also the training DAG's own jobs")
    ap.add_argument("--training-upto", type=int, default=None, help="the training jobs only up to this many series")
    ap.add_argument("--work", default="/tmp/stockwise-scale", help="a STOCKWISE_HOME per size under here")
    ap.add_argument(
        "--no-planning",
        action="store_true",
        help="skip the planning jobs (with --keep and --training: train on the lakes an earlier run left)",
    )
    ap.add_argument("--browser", action="store_true", help="open each size's report in headless Chromium")
    ap.add_argument("--keep", action="store_true", help="reuse a size's demo ERP and lake if there")
    ap.add_argument("--json", default=None, help="write the results here")
    ap.add_argument("--png", default=str(REPO / "docs" / "img" / "scale.png"))
    ap.add_argument("--merge", nargs="+", default=None, help="join --json files of runs on the same sizes")
    ap.add_argument("--replot", default=None, help="only print the table and redraw the plot from a --json file")
    a = ap.parse_args(argv)
    if a.merge:
        results = merge([json.loads(Path(f).read_text()) for f in a.merge])
        if a.json:
            Path(a.json).write_text(json.dumps(results, indent=2))
        print(table(results))
        plot(results, Path(a.png))
        return 0
    if a.replot:
        results = json.loads(Path(a.replot).read_text())
        print(table(results))
        plot(results, Path(a.png))
        return 0
    results = []
    for n in sorted(a.sizes):
        results.append(run_size(n, a))
        if a.json:  # after each size: a run stopped at a larger size keeps what it measured
            Path(a.json).write_text(json.dumps(results, indent=2))
    print()
    print(table(results))
    plot(results, Path(a.png))
    print(f"\nlog-log plot: {a.png}")
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
