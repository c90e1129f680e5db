"""The `stockwise` command line: thin wrappers that print each job's result as JSON on the last line."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import date
from pathlib import Path

from stockwise.errors import StockwiseError
from stockwise.masking import mask_url


def _date(s: str) -> date:
    import re

    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", s or ""):
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {s!r}")
    try:
        return date.fromisoformat(s)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"not a valid date: {s!r} ({e})") from e


def cmd_demo_erp(a: argparse.Namespace) -> dict:
    from stockwise.erp import demo
    from stockwise.settings import Settings

    s = Settings()
    s.resolved_home.mkdir(parents=True, exist_ok=True)
    cfg = demo.DemoConfig(skus=a.skus, stores=a.stores, days=a.days, end=a.end, seed=a.seed, network=a.network)
    logging.getLogger(__name__).info("generating demo ERP: %s", cfg)
    d = demo.generate(cfg)
    counts = demo.write(d, s.erp, s.truth)
    return {
        "erp": mask_url(s.erp),
        "truth": s.truth,
        "start": str(d.tables["stock"]["date"].min())[:10],
        "end": a.end.isoformat(),
        "rows": counts,
        "anomalies": len(d.truth["anomalies"]),
    }


def cmd_demo_events(a: argparse.Namespace) -> dict:
    from datetime import timedelta

    from stockwise.erp import demo_events
    from stockwise.eventqueue import EventQueue
    from stockwise.settings import Settings

    s = Settings()
    day, moves = demo_events.read_movements(s.erp, a.day)
    to = a.to or day + timedelta(days=1)
    evs = demo_events.as_events(moves, to, seed=a.seed)
    logging.getLogger(__name__).info(
        "replaying %d movements of %s as %d events of %s at %s", len(moves), day, len(evs), to, a.speed or "full speed"
    )
    out = demo_events.replay(EventQueue(s.events_url, stream=s.events_stream), evs, a.speed, limit=a.limit)
    return {"replayed": day, "as_of": to, "movements": len(moves), **out, "queue": mask_url(s.events_url)}


def cmd_stock_events(a: argparse.Namespace) -> dict:
    from stockwise.orchestration import call

    return call("stock_events", a.ds, lock=None)


def cmd_job(a: argparse.Namespace) -> dict:
    from stockwise.orchestration import call

    kwargs = {}
    if a.job == "plan":
        kwargs = _plan_kwargs(a)
    elif a.job == "forecast":
        kwargs = {"horizon_days": a.horizon_days}
    return call(a.job, a.ds, scenario=_scenario(a), lock="job", **kwargs)


def _plan_kwargs(a: argparse.Namespace) -> dict:
    return {
        "service_level": a.service_level,
        "horizon_days": a.horizon_days,
        "budget": a.budget,
        "gate_margin": a.gate_margin,
        "publish_if_gate_fails": a.publish_if_gate_fails,
    }


def _scenario(a: argparse.Namespace) -> str | None:
    """Any what-if flag (or --scenario) makes the run a scenario: never published, never official."""
    from stockwise.orchestration import scenario_name

    return scenario_name(
        {"scenario": a.scenario, "service_level": a.service_level, "horizon_days": a.horizon_days, "budget": a.budget}
    )


def _plan_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--service-level",
        type=float,
        default=None,
        help="what-if: aggregate fill-rate target (makes the run a scenario)",
    )
    p.add_argument(
        "--horizon-days", type=int, default=None, help="what-if: forecast horizon (makes the run a scenario)"
    )
    p.add_argument(
        "--budget",
        type=float,
        default=None,
        help="what-if: cap on the value of the plan's orders (makes the run a scenario)",
    )
    p.add_argument(
        "--scenario",
        default=None,
        help="run as this named scenario: results in scenarios/<name>/ of the lake, never published",
    )
    p.add_argument(
        "--gate-margin",
        type=float,
        default=None,
        help="hold the plan if its simulated fill rate misses the target by more",
    )
    p.add_argument("--publish-if-gate-fails", action="store_true", help="publish even if the gate holds the plan")


def cmd_run(a: argparse.Namespace) -> dict:
    """All stages in one process, without Airflow (the DAG runs the same jobs, under one lock)."""
    from stockwise import bars, runlock
    from stockwise.jobs import PLANNING

    owner, scenario = runlock.cli_owner(), _scenario(a)
    with bars.bar(f"plan {a.ds}", total=len(PLANNING)) as stages:
        for job in PLANNING:
            _run_one(a, job, owner, scenario)
            stages.advance(note=f"{job} done")
    return where(a.ds, scenario)


def _run_one(a: argparse.Namespace, job: str, owner: str, scenario: str | None) -> None:
    from stockwise import alerts, bars
    from stockwise.jobs import PLANNING
    from stockwise.orchestration import call

    kwargs = {}
    if job == "plan":
        kwargs = _plan_kwargs(a)
    elif job == "forecast":
        kwargs = {"horizon_days": a.horizon_days}
    if not bars.active():  # the bar says it otherwise
        print(f"[stockwise] {job} ...", file=sys.stderr, flush=True)
    try:
        out = call(job, a.ds, owner=owner, scenario=scenario, lock="last" if job == PLANNING[-1] else "run", **kwargs)
    except Exception as e:
        try:
            alerts.task_failed(
                ds=a.ds,
                dag_id="cli",
                task_id=job,
                run_id=owner,
                try_number=1,
                error=e,
                owner=owner,
                scenario=scenario,
                official_plan=scenario is None,
            )
        except Exception:  # noqa: BLE001 - the failure record is best effort; the real error follows
            logging.getLogger(__name__).exception("could not record the failure")
        raise
    if job == "publish" and out.get("held"):
        print(f"[stockwise] plan held back, not published: {out.get('why')}", file=sys.stderr, flush=True)


def where(ds: date, scenario: str | None = None) -> dict:
    from stockwise import catalog, lake
    from stockwise.settings import Settings

    s = Settings(scenario=scenario) if scenario else Settings()
    store = lake.open_lake(s)
    d = ds.isoformat()
    out: dict = {"ds": d, "lake": store.url}
    if scenario:
        out["scenario"] = f"{scenario} (not published)"
    else:
        from stockwise import runlock
        from stockwise.erp.connect import connect
        from stockwise.errors import RunLocked
        from stockwise.publish import plan_id, reconcile

        conn = connect(s)
        try:  # heal an interrupted publish, unless a run of this date is working on it right now
            with runlock.held(store, f"plan/{d}", runlock.cli_owner(), lease_s=60):
                healed = reconcile(store, conn, ds)
            if healed:
                out["reconciled"] = healed
        except RunLocked:
            out["in_progress"] = runlock.holder(store, f"plan/{d}") or "a run holds this date"
        pub = conn.publication(plan_id(ds))
        if pub:
            out["erp_plan_version"] = pub["version"]
    if catalog.PLANS.exists(store, d):
        out["plan_version"] = catalog.PLANS.manifest(store, d).version
    for label, dataset, name in (
        ("reorder_plan_csv", catalog.PLANS, "reorder_plan.csv"),
        ("report", catalog.REPORTS, "index.html"),
        ("report_xlsx", catalog.REPORTS, "reorder_plan.xlsx"),
        ("data_docs", catalog.DATA_DOCS, "index.html"),
    ):
        if dataset.exists(store, d):
            out[label] = dataset.uri(store, d, name)
    # what the date's latest validation quarantined (an earlier failure later fixed is history)
    if catalog.DATA_DOCS.exists(store, d):
        failed = catalog.DATA_DOCS.manifest(store, d).meta.get("failed") or []
        if failed:
            out["quarantined"] = {n: store.uri(catalog.quarantine(n).prefix(d)) for n in failed}
    out["mlflow"] = mask_url(s.mlflow_uri)
    out["erp"] = mask_url(s.erp)
    return out


def cmd_set_champion(a: argparse.Namespace) -> dict:
    """Move a model's champion by hand (a reviewer's decision), recorded for the plan's lineage;
    re-plan a date only when asked (`--replan DS`: the planning jobs from the forecast on)."""
    import mlflow

    from stockwise import registry, runlock
    from stockwise.errors import ConfigError
    from stockwise.jobs import PLANNING
    from stockwise.orchestration import call
    from stockwise.settings import Settings

    fam = registry.FAMILIES.get(a.model)
    if fam is None:
        raise SystemExit(f"unknown model {a.model!r}: one of {sorted(registry.FAMILIES)}")
    mlflow.set_tracking_uri(Settings().mlflow_uri)
    try:
        before = registry.set_champion(mlflow.MlflowClient(), fam, a.version, a.why)
    except (LookupError, ValueError) as e:
        raise ConfigError(str(e)) from None
    out: dict = {"model": fam.name, "champion": str(a.version), "replaced": before, "why": a.why}
    if a.replan is None:
        out["replanned"] = None
        print(
            "[stockwise] nothing re-planned: the next planning run serves it (or add --replan DS)",
            file=sys.stderr,
            flush=True,
        )
        return out
    from stockwise import bars

    owner, jobs = runlock.cli_owner(), PLANNING[PLANNING.index("forecast") :]
    with bars.bar(f"re-plan {a.replan}", total=len(jobs)) as stages:
        for job in jobs:
            if not bars.active():
                print(f"[stockwise] {job} ...", file=sys.stderr, flush=True)
            call(job, a.replan, owner=owner, lock="last" if job == jobs[-1] else "run")
            stages.advance(note=f"{job} done")
    out["replanned"] = a.replan.isoformat()
    out.update({k: v for k, v in where(a.replan).items() if k in ("plan_version", "report")})
    return out


def cmd_where(a: argparse.Namespace) -> dict:
    from stockwise.orchestration import scenario_name

    return where(a.ds, scenario_name({"scenario": a.scenario}))


def cmd_gx_suites(a: argparse.Namespace) -> dict:
    from stockwise.erp.schema import EXTRACTS
    from stockwise.settings import Settings
    from stockwise.validation.suites import suite_dict

    folder = Path(a.dir) if a.dir else Settings().great_expectations_dir
    out = folder / "expectations"
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in EXTRACTS:
        path = out / f"{name}.json"
        path.write_text(json.dumps(suite_dict(name), indent=2, sort_keys=True) + "\n")
        written.append(str(path))
    return {"suites": written}


def _on_folder(step: str, a: argparse.Namespace) -> dict:
    """Run a history-folder step (`backtest_folder`, `predict_folder`) with the CLI's arguments."""
    from stockwise import jobs

    # declared steps of the stage packages (entry points): the core imports none of them
    return jobs.load(step, jobs.STEPS)(
        a.data,
        a.mapping,
        a.horizon,
        a.out,
        panel_builder=jobs.load("build_panel_pandas", jobs.STEPS),
        candidates=tuple(a.models.split(",")) if a.models else None,
        cutoffs=a.cutoffs,
        model_params={"lightgbm": {"partition_by": a.partition_by}} if a.partition_by else None,
    )


def cmd_backtest(a: argparse.Namespace) -> dict:
    res = _on_folder("backtest_folder", a)
    bt = res.pop("backtest")
    for k in ("matrix", "forecast", "every_model"):
        res.pop(k, None)
    hold = res["holdout"]
    print(f"\nholdout ({res['horizon']} periods after {res['cutoff']}, {res['series']} series):", file=sys.stderr)
    for k in ("WRMSSE", "RMSSE_mean", "MASE_mean", "WAPE", "bias_pct", "coverage_80", "coverage_95"):
        if k in hold:
            print(f"  {k:<12} {hold[k]:.4f}", file=sys.stderr)
    print("champions by segment: " + ", ".join(f"{k}={v}" for k, v in res["champions"].items()), file=sys.stderr)
    if a.scores:
        bt.scores.to_csv(a.scores, index=False)
    return res


def cmd_predict(a: argparse.Namespace) -> dict:
    res = _on_folder("predict_folder", a)
    res.pop("forecast")
    print(
        f"\nforecast {res['horizon']} periods ({res['forecast_from']} .. {res['forecast_to']}) for "
        f"{res['series']} series -> {res['out']}",
        file=sys.stderr,
    )
    print("champions by segment: " + ", ".join(f"{k}={v}" for k, v in res["champions"].items()), file=sys.stderr)
    return res


def _folder_args(b: argparse.ArgumentParser) -> None:
    b.add_argument("--data", required=True, help="folder of CSV/Parquet files")
    b.add_argument("--mapping", required=True, help="YAML mapping of the files to the canonical extracts")
    b.add_argument("--models", default=None, help="comma-separated candidates (default: all)")
    b.add_argument("--cutoffs", type=int, default=3, help="rolling-origin backtest cutoffs")
    b.add_argument(
        "--partition-by",
        choices=("location_id", "category"),
        default=None,
        help="train one LightGBM per location or category through Spark (scale-out)",
    )


class _DefaultsFormatter(argparse.HelpFormatter):
    """Help that ends with the option's default, where it has one and does not say it already."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            "default" in text
            or action.default in (None, False, argparse.SUPPRESS)
            or action.option_strings == []
            or action.required
        ):
            return text
        return text + " (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """A subcommand's parser: its help lists its defaults."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _DefaultsFormatter)
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    from stockwise.version import code_version, package_version

    p = argparse.ArgumentParser(prog="stockwise", description="AI inventory planning as batch MLOps.")
    p.add_argument("-q", "--quiet", action="store_true", help="only warnings and the JSON result")
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bars on standard error (default: when it is a terminal and not --quiet)",
    )
    p.add_argument("--version", action="version", version=f"stockwise {package_version()} (code {code_version()})")
    # every subcommand's help shows its options' defaults
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    d = sub.add_parser("demo-erp", help="write a realistic demo ERP (SQLite) and its truth store")
    d.add_argument("--skus", type=int, default=200, help="items in the catalogue")
    d.add_argument("--stores", type=int, default=5, help="stores")
    d.add_argument("--days", type=int, default=730, help="days of history")
    d.add_argument("--end", type=_date, default=date(2025, 12, 31), help="last day of history")
    d.add_argument("--seed", type=int, default=7, help="random seed: the same seed writes the same ERP")
    net = d.add_mutually_exclusive_group()
    net.add_argument(
        "--network",
        dest="network",
        action="store_true",
        default=True,
        help="the stores are served by the warehouse DC01: a sourcing table, its transfers, stock and "
        "purchase orders over the whole history (the default)",
    )
    net.add_argument(
        "--direct",
        dest="network",
        action="store_false",
        help="every store buys from the suppliers itself (no DC stock, no transfers)",
    )
    d.set_defaults(func=cmd_demo_erp)

    e = sub.add_parser("demo-events", help="replay a day of the demo ERP's movements as stock events on the queue")
    e.add_argument("--day", type=_date, default=None, help="the day replayed (default: the ERP's last day)")
    e.add_argument("--to", type=_date, default=None, help="the day the events are dated (default: the day after)")
    e.add_argument("--speed", type=float, default=0.0, help="times real time (60: an hour a minute; 0: at once)")
    e.add_argument("--limit", type=int, default=None, help="send at most this many events")
    e.add_argument("--seed", type=int, default=0, help="seed of the split of each day's sales")
    e.set_defaults(func=cmd_demo_events)

    se = sub.add_parser("stock-events", help="take the queued stock events and replan what they touched (intraday)")
    se.add_argument("--ds", type=_date, required=True, help="the run's date (its events are replanned too)")
    se.set_defaults(func=cmd_stock_events)

    from stockwise.jobs import PLANNING

    for job in PLANNING:
        j = sub.add_parser(job.replace("_", "-"), help=f"run the {job} job for one date")
        j.add_argument("--ds", type=_date, required=True, help="the run's logical date")
        _plan_args(j)
        j.set_defaults(func=cmd_job, job=job)

    r = sub.add_parser("run", help="run every stage for one date in this process (no Airflow)")
    r.add_argument("--ds", type=_date, required=True, help="the run's logical date")
    _plan_args(r)
    r.set_defaults(func=cmd_run)

    w = sub.add_parser("where", help="print where a date's plan, report and data docs are")
    w.add_argument("--ds", type=_date, required=True, help="the run's logical date")
    w.add_argument("--scenario", default=None, help="a scenario's results instead of the official ones")
    w.set_defaults(func=cmd_where)

    c = sub.add_parser("set-champion", help="move a registered model's champion by hand, saying why")
    c.add_argument("--model", default="stockwise-demand", help="the registered model")
    c.add_argument("--version", required=True, help="the version that becomes champion")
    c.add_argument("--why", required=True, help="the reason, shown in the next plan's lineage")
    c.add_argument("--replan", type=_date, default=None, help="re-plan this date now with it (else: at the next run)")
    c.set_defaults(func=cmd_set_champion)

    b = sub.add_parser("backtest", help="train on a history folder except its last H periods, forecast them, score")
    _folder_args(b)
    b.add_argument("--horizon", type=int, required=True, help="periods held out and forecast")
    b.add_argument("--out", required=True, help="CSV: series_id, date, forecast, the quantiles, sku, location_id")
    b.add_argument("--scores", default=None, help="CSV of every backtest score (model x cutoff x segment)")
    b.set_defaults(func=cmd_backtest)

    f = sub.add_parser("predict", help="train on all of a history folder and forecast the next H periods")
    _folder_args(f)
    f.add_argument("--horizon", type=int, required=True, help="periods to forecast after the last quantity")
    f.add_argument("--out", required=True, help="CSV: series_id, date, forecast, the quantiles, sku, location_id")
    f.set_defaults(func=cmd_predict)

    g = sub.add_parser("gx-suites", help="write the expectation suites into great_expectations/")
    g.add_argument("--dir", default=None, help="the GX project folder (default: great_expectations/ here)")
    g.set_defaults(func=cmd_gx_suites)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.WARNING if args.quiet else logging.INFO
    show = args.progress if args.progress is not None else (sys.stderr.isatty() and not args.quiet)
    if not show:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    from stockwise import logs, masking
    from stockwise.settings import Settings

    logs.quiet_libraries()
    masking.install(Settings())  # no credential in any log line, error or result below
    secrets = masking.secret_values(Settings())
    try:
        result = _with_bars(args, level) if show else args.func(args)
    except StockwiseError as e:
        print(masking.scrub(f"stockwise: error: {e}", secrets), file=sys.stderr)
        return 2
    print(masking.scrub(json.dumps(result, default=str), secrets))  # after the bars: the last line
    return 0


def _with_bars(args: argparse.Namespace, level: int) -> dict:
    """Run the command with progress bars; its log lines print above them, through one console."""
    from stockwise import bars

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    with bars.shown() as handler:
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        root.handlers, root.level = [handler], level
        try:
            return args.func(args)
        finally:
            root.handlers, root.level = saved


if __name__ == "__main__":
    sys.exit(main())
