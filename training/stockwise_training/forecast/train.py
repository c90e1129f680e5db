"""Jobs of the weekly `model_training` DAG: backtest and train (`run`), then `promote`.

`run` reads the feature panel of `ds` from the lake, backtests every candidate with rolling
origins, picks a champion per demand segment, fits them on all the data, logs one MLflow run per
model family (its backtest metrics) and one for the assembled model (plots, the training data
as an MLflow input, signature, input example), and registers it as `stockwise-demand` with the
alias `challenger`. `promote` then decides whether the challenger becomes `champion`.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
import warnings
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow.data.dataset_source_registry import resolve_dataset_source
from mlflow.data.meta_dataset import MetaDataset
from mlflow.types.utils import _infer_schema

from stockwise import catalog, lake, registry, tracking
from stockwise.registry import DEMAND
from stockwise.settings import Settings
from stockwise.tracking import use_mlflow
from stockwise_training.forecast import plots
from stockwise_training.forecast.backtest import BacktestConfig, cutoff_dates, run_backtest
from stockwise_training.forecast.champion import assign, forecast_champions
from stockwise_training.forecast.models.lgbm import ORIGIN_PREFIXES
from stockwise_training.forecast.panel import QCOLS, future_dates, long_forecast, matrix_from_parts
from stockwise_training.forecast.pyfunc import DemandModel
from stockwise_training.forecast.rescore import rescore

log = logging.getLogger(__name__)

PIP = ["mlflow", "pandas", "numpy", "scipy", "pyarrow", "lightgbm", "stockwise"]


@dataclass(frozen=True)
class TrainResult:
    ds: str
    model: str
    version: str
    champions: dict
    backtest_wrmsse: float
    by_model: dict
    run_id: str
    seconds: float


@dataclass(frozen=True)
class PromoteResult:
    ds: str
    version: str
    promoted: bool
    reason: str
    challenger_wrmsse: float
    champion_wrmsse: float | None
    champion_changed: bool = False


def assembled_score(bt, champions: dict[str, str]) -> float:
    """Backtest WRMSSE of the per-segment assembly (each series scored with its segment's model)."""
    per = bt.per_series
    per = per.assign(chosen=assign(per["segment"].to_numpy(), champions))
    mine = per[per["model"] == per["chosen"]]
    out = []
    for _, g in mine.groupby("cutoff"):
        ok = g["rmsse"].notna()
        w = g.loc[ok, "weight"]
        out.append(float((w / w.sum() * g.loc[ok, "rmsse"]).sum()) if w.sum() > 0 else np.nan)
    return float(np.nanmean(out))


def run(
    ds: date,
    settings: Settings | None = None,
    candidates: tuple[str, ...] | None = None,
    model_params: dict | None = None,
) -> TrainResult:
    """Backtest the candidates, pick and refit the champions, log every family and the assembled
    model to MLflow, register it as the challenger."""
    import mlflow

    settings = settings or Settings()
    t0 = time.monotonic()
    started = time.time()  # the MLflow run's start: its duration covers the training
    store = lake.open_lake(settings)
    statics = catalog.validated("items").read(store, ds)[["sku", "category"]]
    m = read_matrix(store, ds)
    about = PanelInfo.of(store, ds, m.keys.iloc[0])  # what the MLflow run records of the panel
    model_params = dict(model_params or {})
    if settings.lightgbm_max_rows:  # a fit's rows capped: its cost stops growing with the catalogue
        model_params["lightgbm"] = {"max_rows": settings.lightgbm_max_rows, **model_params.get("lightgbm", {})}
    if settings.lightgbm_partition_by:  # one model per partition, trained through Spark
        model_params["lightgbm"] = {"partition_by": settings.lightgbm_partition_by, **model_params.get("lightgbm", {})}
    cfg = BacktestConfig(
        horizon=settings.horizon_days, cutoffs=3, season=7, weight_window=28, model_params=model_params
    )
    if candidates:
        cfg.candidates = tuple(candidates)
    final: dict = {}
    bt = run_backtest(m, cfg, statics, None, m.cols.get("price"), final=final)
    score = assembled_score(bt, bt.champions)
    _, models = forecast_champions(m, bt, cfg, cfg.horizon, statics, cache=final)
    by_model = (
        bt.scores[bt.scores["segment"] == "all"]
        .groupby("model")[["WRMSSE", "RMSSE_mean", "MASE_mean", "bias_pct", "coverage_80", "coverage_95"]]
        .mean()
    )
    _log_families(settings, ds, cfg, bt)
    model = DemandModel(
        bt.champions, cfg, bt.calibration, sorted(set(bt.segments)), "D", models.get("lightgbm"), statics, bt.widths
    )
    card = model_card(ds, m, cfg, bt, score, models, store.uri(catalog.DEMAND_PANEL.prefix(ds)))
    info, run_id = _log_model(
        settings, store, ds, about, m, cfg, bt, models, statics, by_model, score, model, started, card
    )
    version = registry.register(
        mlflow.MlflowClient(),
        DEMAND,
        info.registered_model_version,
        score,
        {"stockwise.ds": ds.isoformat(), "horizon": cfg.horizon, "champions": json.dumps(bt.champions)},
    )
    tracking.describe(use_mlflow(settings, DEMAND.experiment), DEMAND.name, card)
    tracking.name_version_run(run_id, DEMAND.name, version, ds.isoformat())
    log.info("champions by segment: %s", bt.champions)
    return TrainResult(
        ds.isoformat(),
        DEMAND.name,
        version,
        bt.champions,
        round(score, 4),
        by_model.round(4).to_dict(orient="index"),
        run_id,
        round(time.monotonic() - t0, 1),
    )


def _log_families(settings: Settings, ds: date, cfg: BacktestConfig, bt) -> None:
    """One run per model family in its own experiment, so reviewers compare like with like."""
    import mlflow

    for name in cfg.candidates:
        fam = use_mlflow(settings, f"stockwise-forecast-{name.replace('_', '-')}")
        with mlflow.start_run(experiment_id=fam, run_name=f"backtest-{ds.isoformat()}"):
            mlflow.set_tags({"stockwise.ds": ds.isoformat(), "stockwise.family": name})
            mlflow.log_params({"horizon": cfg.horizon, "cutoffs": cfg.cutoffs, **cfg.model_params.get(name, {})})
            sc = bt.scores[bt.scores["model"] == name]
            for _, r in sc.iterrows():
                prefix = f"{r['grouping']}.{r['segment']}." if r["grouping"] != "all" else ""
                mlflow.log_metrics(
                    {
                        f"{prefix}{k}": float(r[k])
                        for k in ("WRMSSE", "RMSSE_mean", "MASE_mean", "bias_pct")
                        if pd.notna(r[k])
                    },
                    step=int(pd.Timestamp(r["cutoff"]).strftime("%Y%m%d")),
                )


class LakeTable(MetaDataset):
    """A lake table logged to MLflow by reference (its location and schema, not its rows), with
    its size as the profile the MLflow UI shows."""

    def __init__(self, source: str, name: str, schema, size: dict) -> None:
        super().__init__(resolve_dataset_source(source), name, schema=schema)
        self.size = size

    @property
    def profile(self) -> dict:
        return self.size

    def to_dict(self) -> dict[str, str]:
        return {**super().to_dict(), "profile": json.dumps(self.profile)}


@dataclass(frozen=True)
class PanelInfo:
    """What the model's MLflow run records of its training panel: the panel as an MLflow
    dataset (its lake location, schema and size, not its rows) and one series' recent history as
    the input example."""

    dataset: object
    example: pd.DataFrame

    @classmethod
    def of(cls, store, ds: date, first: pd.Series) -> PanelInfo:
        """Read part by part: the `first` series' recent history, 1,000 rows for the schema, the size."""
        import pyarrow as pa
        import pyarrow.compute as pc

        rows, width, head, mine = 0, 0, None, []
        for t in catalog.panel_parts(store, ds):
            rows, width = rows + t.num_rows, t.num_columns
            head = head if head is not None else t.slice(0, 1000).to_pandas()
            sku, loc = pc.equal(t.column("sku"), first["sku"]), pc.equal(t.column("location_id"), first["location_id"])
            mine.append(t.filter(pc.and_(sku, loc)))
        # one series' recent history: enough periods for every model to forecast from
        example = pa.concat_tables(mine, promote_options="permissive").sort_by("date").to_pandas().tail(120)
        example = example.reset_index(drop=True)
        example = example.astype({c: "float64" for c in example.columns if pd.api.types.is_integer_dtype(example[c])})
        with warnings.catch_warnings():  # MLflow's hints on integer columns and local paths (no threads run here)
            warnings.simplefilter("ignore", UserWarning)
            dataset = LakeTable(
                store.uri(catalog.DEMAND_PANEL.prefix(ds)),
                f"demand_panel_{ds.isoformat()}",
                _infer_schema(head),
                {"num_rows": rows, "num_elements": rows * width},
            )
        pa.default_memory_pool().release_unused()
        return cls(dataset, example)


def model_input(column: str) -> bool:
    """The panel columns the candidates read (besides qty and stockout): the origin features,
    price and promotion; the rest (calendar, on-hand, ...) only cost memory (0.8 GB at 20,000 series)."""
    return column in ("price", "on_promo") or column.startswith(ORIGIN_PREFIXES)


def read_matrix(store, ds: date):
    """The demand panel of `ds` as the forecaster's matrices, built part by part (the long panel
    in pandas and its matrices together were 9 GB at 20,000 series)."""
    import pyarrow as pa

    m = matrix_from_parts(
        lambda columns: catalog.panel_parts(store, ds, columns=columns),
        "D",
        catalog.panel_schema(store, ds),
        keep=model_input,
    )
    pa.default_memory_pool().release_unused()  # Arrow's allocator keeps what the parts freed
    return m


def _log_model(
    settings: Settings,
    store,
    ds: date,
    about: PanelInfo,
    m,
    cfg: BacktestConfig,
    bt,
    models: dict,
    statics: pd.DataFrame,
    by_model: pd.DataFrame,
    score: float,
    model: DemandModel,
    started: float,
    card: str,
):
    """The assembled model's run: champions, scores, plots, the panel as its input, the pyfunc."""
    import mlflow
    from mlflow.models import infer_signature

    exp = use_mlflow(settings, DEMAND.experiment)
    tags = {
        **tracking.lineage_tags(settings, ds.isoformat(), extract_versions(store, ds)),
        "stockwise.job": "model_training.train",
    }
    with tracking.start_run(exp, f"{DEMAND.name} · data to {ds.isoformat()}", started, tags, card) as run_:
        mlflow.log_params(
            {
                "horizon": cfg.horizon,
                "cutoffs": cfg.cutoffs,
                "candidates": ",".join(cfg.candidates),
                "selection_metric": cfg.selection_metric,
                "series": len(m.keys),
            }
        )
        mlflow.log_dict(bt.champions, "champions.json")
        mlflow.log_metric("backtest_WRMSSE", score)
        for name, r in by_model.iterrows():
            mlflow.log_metrics({f"{name}.{k}": float(v) for k, v in r.items() if pd.notna(v)})
        with tempfile.TemporaryDirectory() as tmp:
            bt.scores.to_csv(Path(tmp) / "backtest_scores.csv", index=False)
            mlflow.log_artifact(str(Path(tmp) / "backtest_scores.csv"))
        mlflow.log_figure(plots.error_by_segment(bt.scores), "plots/error_by_segment.png")
        last_cut = cutoff_dates(m, cfg.horizon, 1)[0]
        bt_fc = _backtest_forecast(m, bt, cfg, statics, last_cut)
        mlflow.log_figure(plots.fan_charts(recent_history(m, last_cut), bt_fc), "plots/fan_charts_last_cutoff.png")
        if "lightgbm" in models:
            mlflow.log_figure(plots.feature_importance(models["lightgbm"].importance), "plots/feature_importance.png")
        mlflow.log_input(about.dataset, context="training")
        example = about.example
        # `horizon` is a declared param: without it MLflow drops the horizon asked at predict time
        signature = infer_signature(example, model.forecast(example).head(5), params={"horizon": cfg.horizon})
        with tempfile.TemporaryDirectory() as tmp:
            model.save(Path(tmp) / "state")  # plain files, not a pickle (see stockwise_training.persist)
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=str(Path(__file__).with_name("demand_model.py")),
                artifacts={"state": str(Path(tmp) / "state")},
                signature=signature,
                input_example=example,
                pip_requirements=PIP,
                registered_model_name=DEMAND.name,
            )
        return info, run_.info.run_id


def extract_versions(store, ds: date) -> dict[str, str]:
    """The lake versions of the validated extracts a model was trained on (lineage tags)."""
    out = {}
    for name in ("sales", "stock", "items", "movements"):
        ext = catalog.validated(name)
        if ext.exists(store, ds):
            out[f"{name}_version"] = ext.manifest(store, ds).version
    return out


def model_card(ds: date, m, cfg: BacktestConfig, bt, score: float, models: dict, source: str) -> str:
    """The model card (Markdown) MLflow shows on the experiment, the registered model and the run."""
    s = bt.scores[bt.scores["grouping"].isin(["all", "demand_class"])]
    rows = []
    for seg, champ in sorted(bt.champions.items(), key=lambda kv: (kv[0] != "all", kv[0])):
        r = s[(s["segment"] == seg) & (s["model"] == champ)][["WRMSSE", "bias_pct", "coverage_80", "coverage_95"]]
        r = r.mean()
        n = len(bt.segments) if seg == "all" else int((bt.segments == seg).sum())
        rows.append(
            f"| {seg} | {n:,} | {champ} | {r['WRMSSE']:.3f} | {r['bias_pct']:+.1f}% | "
            f"{r['coverage_80']:.0%} | {r['coverage_95']:.0%} |"
        )
    importance = getattr(models.get("lightgbm"), "importance", None)
    features = ", ".join(map(str, importance.index[:10])) if importance is not None else "(LightGBM not fitted)"
    first, last = m.dates[0].date().isoformat(), m.dates[-1].date().isoformat()
    return f"""### {DEMAND.name}: daily demand per sku x location

**Intended use.** The forecasts behind Stockwise's daily reorder plan (the `inventory_planning`
DAG): for every sku x location, the mean and the quantiles P2.5, P10, P50, P90 and P97.5 of daily
demand over the next {cfg.horizon} days, which the planning engine turns into sample paths over
lead time. Not a financial forecast.

**Data.** The demand panel of {ds.isoformat()} (`{source}`): {len(m.keys):,} series, {first} to
{last} ({len(m.dates):,} days). Stockout days (book stock at zero) are censored: their sales are
not demand.

**Models.** One champion per demand segment, chosen by the mean {cfg.selection_metric} over
{cfg.cutoffs} rolling-origin cutoffs inside the training window, among: {", ".join(cfg.candidates)}.
LightGBM's strongest features (gain): {features}.

**Backtest** (horizon {cfg.horizon} days, mean over the cutoffs; this version's score, the
assembled {DEMAND.label}, is {score:.4f}):

| segment | series | champion | {DEMAND.label} | bias | 80% coverage | 95% coverage |
|---|---:|---|---:|---:|---:|---:|
{chr(10).join(rows)}

**Limits.** Series with less than two horizons of history lean on their category at their
location (cold start). Prices and promotions after the data date are the ones the ERP plans;
unplanned promotions are not foreseen. Intervals are calibrated on backtest errors per segment
and step: a change of regime after the last cutoff is not in them. Demand lost to stockouts is
estimated from the days in stock.
"""


def recent_history(m, cut: pd.Timestamp, periods: int = 120) -> pd.DataFrame:
    """The long (sku, location_id, date, qty) history of every series over its last `periods`
    periods up to `cut` (the fan charts' context)."""
    hist = m.upto(cut)
    n = min(periods, len(hist.dates))
    qty = hist.cols["qty"][:, -n:]
    return pd.DataFrame(
        {
            "sku": np.repeat(m.keys["sku"].to_numpy(), n),
            "location_id": np.repeat(m.keys["location_id"].to_numpy(), n),
            "date": np.tile(hist.dates[-n:].to_numpy(), len(m.keys)),
            "qty": qty.ravel(),
        }
    ).dropna(subset=["qty"])


def _backtest_forecast(m, bt, cfg, statics, cut):
    """The assembled forecast from the last backtest cutoff (no refit), with actuals, for the fan charts."""
    seg = bt.segments.reindex(pd.MultiIndex.from_frame(m.keys)).fillna("new").to_numpy()
    chosen = assign(seg, bt.champions)
    mean = np.zeros((len(m.keys), cfg.horizon))
    q = np.zeros((len(m.keys), cfg.horizon, len(QCOLS)))
    for name in set(chosen):
        mu, qq = bt.last_cutoff[name]
        sel = chosen == name
        mean[sel] = mu[sel]
        if qq is not None:
            q[sel] = qq[sel]
    fc = long_forecast(m.keys, future_dates(cut, cfg.horizon, m.freq), mean, q, "champion")
    fc["model"] = np.repeat(chosen, cfg.horizon)
    T = int(np.searchsorted(m.dates, cut, side="right"))
    actual = np.full((len(m.keys), cfg.horizon), np.nan)
    seen = m.cols["qty"][:, T : T + cfg.horizon]
    actual[:, : seen.shape[1]] = seen  # NaN where the panel has no row, as the merge gave
    fc["actual"] = actual.ravel()
    return fc


def promote_job(ds: date, settings: Settings | None = None, margin: float = 0.02) -> PromoteResult:
    """The challenger against the champion re-scored on the same backtest cutoffs."""
    import mlflow

    settings = settings or Settings()
    use_mlflow(settings, DEMAND.experiment)

    def on_same_cutoffs(champ) -> float:
        """The champion on the challenger's cutoffs it has not seen: a champion trained on data up
        to its `stockwise.ds` knows the actuals of every earlier cutoff (its score there would be
        in-sample, and no challenger could beat it). Without such a cutoff (trained on the same
        data or later), its own backtest score: the same cutoffs refitted, when the data is the same."""
        full = read_matrix(lake.open_lake(settings), ds)
        cuts = cutoff_dates(full, settings.horizon_days, 3, 7)
        seen_to = pd.Timestamp(champ.tags.get("stockwise.ds", "1900-01-01"))
        unseen = [c for c in cuts if c >= seen_to]
        if not unseen:
            log.info("champion v%s was trained on data to %s: its own backtest score", champ.version, seen_to.date())
            return float(champ.tags[DEMAND.metric])
        return rescore(f"models:/{DEMAND.name}/{champ.version}", full, unseen, settings.horizon_days, 28)

    p = registry.promote(mlflow.MlflowClient(), DEMAND, margin, rescore=on_same_cutoffs)
    return PromoteResult(
        ds.isoformat(), p.version, p.promoted, p.reason, p.challenger_score, p.champion_score, p.changed
    )
