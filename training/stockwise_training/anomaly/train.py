"""Jobs: train and register `stockwise-anomaly`; promote it when it finds anomalies better.

`run` fits the IsolationForest on the daily movement table of `ds`, measures the whole detector
(rules + forest) on a copy of the same table with labelled anomalies injected (precision, recall
and F1 per type, logged to MLflow with a chart), and registers the version as `challenger`.
`promote_job` re-measures the current `champion` on the same injected copy and moves the alias
when the challenger's F1 is higher by the margin (the error 1 - F1 lower by that share).
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd

from stockwise import catalog, lake, registry, tracking
from stockwise.anomaly.evaluate import scores
from stockwise.anomaly.rules import Pooled
from stockwise.registry import ANOMALY
from stockwise.settings import Settings
from stockwise.tracking import use_mlflow
from stockwise_training.anomaly.inject import KINDS, inject
from stockwise_training.anomaly.model import AnomalyModel, ForestParams

log = logging.getLogger(__name__)

PIP = ["mlflow", "pandas", "numpy", "scipy", "pyarrow", "scikit-learn", "skops", "stockwise"]


@dataclass(frozen=True)
class AnomalyTrainResult:
    ds: str
    model: str
    version: str
    f1: float
    by_type: dict
    run_id: str
    seconds: float


@dataclass(frozen=True)
class AnomalyPromoteResult:
    ds: str
    version: str
    promoted: bool
    reason: str
    challenger_f1: float
    champion_f1: float | None
    champion_changed: bool = False


def _daily(settings: Settings, ds: date) -> pd.DataFrame:
    """The movement table up to `ds`. Beyond `anomaly_train_series` series, a seeded sample of
    that many series read a batch at a time: the forest fits on 100,000 rows and the evaluation
    injects 40 anomalies of a kind, so training's memory and time stop growing with the catalogue
    (the planning job still scores every series)."""
    import numpy as np

    store = lake.open_lake(settings)
    d, keys, rows = ds.isoformat(), ["sku", "location_id"], settings.anomaly_batch_rows
    path = catalog.MOVEMENT_DAILY.path
    series = pd.concat(
        [b.drop_duplicates() for b in lake.iter_series(store, path, d, keys, rows, columns=[])], ignore_index=True
    )
    if len(series) <= settings.anomaly_train_series:
        df = catalog.MOVEMENT_DAILY.read(store, ds)
    else:
        pick = series.iloc[np.random.default_rng(0).choice(len(series), settings.anomaly_train_series, replace=False)]
        wanted = pd.MultiIndex.from_frame(pick)
        df = pd.concat(
            [b[pd.MultiIndex.from_frame(b[keys]).isin(wanted)] for b in lake.iter_series(store, path, d, keys, rows)],
            ignore_index=True,
        )
        log.info("anomaly training on a sample of %s of the %s series", f"{len(pick):,}", f"{len(series):,}")
    df["date"] = pd.to_datetime(df["date"])
    return df[df["date"] <= pd.Timestamp(ds)]


def evaluate(model, daily: pd.DataFrame, seed: int = 7, per_kind: int = 40) -> pd.DataFrame:
    """Scores on injected anomalies. Real history has anomalies of its own, unlabelled: only the
    alerts the injection added (not raised on the same table without it) are scored."""
    n_series = daily[["sku", "location_id"]].drop_duplicates().shape[0]
    per_kind = min(per_kind, max(1, n_series // len(KINDS)))  # one injection per series
    injected, labels = inject(daily, per_kind=per_kind, seed=seed)

    def alerts_of(df):
        return model.predict(df) if not isinstance(model, AnomalyModel) else model.detect(df)

    key = ["type", "sku", "location_id", "date"]
    before = alerts_of(daily.assign(date=pd.to_datetime(daily["date"])))[key].assign(seen=True)
    after = alerts_of(injected)
    new = after.merge(before.drop_duplicates(key), on=key, how="left")
    return scores(new[new["seen"].isna()].drop(columns="seen"), labels)


def _chart(sc: pd.DataFrame):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    x = range(len(sc))
    ax.bar([i - 0.2 for i in x], sc["recall"], width=0.4, label="recall", color="#2680c2")
    ax.bar([i + 0.2 for i in x], sc["precision"], width=0.4, label="precision", color="#3ebd93")
    ax.set_xticks(list(x), [k.replace("_", "\n") for k in sc["kind"]], fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.axhline(0.85, color="#9aa5b1", lw=0.8, ls="--")
    ax.set_title("Detection on injected anomalies")
    ax.legend(fontsize=8)
    return fig


def model_card(ds: date, daily: pd.DataFrame, sc: pd.DataFrame, rules_f1: float, fp: ForestParams) -> str:
    """The model card (Markdown) MLflow shows on the experiment, the registered model and the run."""
    rows = "\n".join(
        f"| {r.kind.replace('_', ' ')} | {r.recall:.2f} | "
        + (f"{r.precision:.2f}" if pd.notna(r.precision) else "–")
        + f" | {r.f1:.2f} |"
        for r in sc.itertuples()
    )
    return f"""### {ANOMALY.name}: inventory anomalies per sku x location x day

**Intended use.** Flags the stock movements a planner should look at (phantom stock, unrecorded
shrinkage, fat-finger and duplicate receipts, and the like), ranked by value at risk in the
report; the actionable ones become cycle-count tasks in the ERP. Not a fraud detector.

**Data.** The daily movement table of {ds.isoformat()}: {len(daily):,} sku x location x days of
{daily[["sku", "location_id"]].drop_duplicates().shape[0]:,} series (at most `anomaly_train_series`, a seeded sample).

**Model.** Rules for the anomalies with a signature (a receipt far above the usual, the same
receipt twice, stock that never sells) and an isolation forest ({fp.n_estimators} trees, alert
rate {fp.alert_rate:.1%}) for the rest.

**Evaluation** on anomalies injected into this data (the rules alone: F1 {rules_f1:.2f}):

| kind | recall | precision | F1 |
|---|---:|---:|---:|
{rows}

**Limits.** Scored on injected anomalies, whose shapes are assumptions; real ones can look
different. A new store or item has no history to compare with for its first weeks.
"""


def run(ds: date, settings: Settings | None = None) -> AnomalyTrainResult:
    import mlflow
    from mlflow.models import infer_signature

    settings = settings or Settings()
    t0 = time.monotonic()
    started = time.time()  # the MLflow run's start: its duration covers the training
    daily = _daily(settings, ds)
    fp = ForestParams()
    model = AnomalyModel.fit(daily, p=fp)
    sc = evaluate(model, daily)
    overall = sc[sc["kind"] == "overall"].iloc[0]
    rules_only = evaluate(AnomalyModel(model.rules), daily)  # what the forest adds, on the same injection
    rules_f1 = float(rules_only[rules_only["kind"] == "overall"]["f1"].iloc[0])
    exp = use_mlflow(settings, ANOMALY.experiment)
    card = model_card(ds, daily, sc, rules_f1, fp)
    tags = {**tracking.lineage_tags(settings, ds.isoformat()), "stockwise.job": "model_training.train_anomaly"}
    with tracking.start_run(exp, f"{ANOMALY.name} · data to {ds.isoformat()}", started, tags, card) as run_:
        mlflow.log_params(
            {
                "n_estimators": fp.n_estimators,
                "alert_rate": fp.alert_rate,
                "rows": len(daily),
                "phantom_alpha": model.rules.phantom_alpha,
                "fat_finger_ratio": model.rules.fat_finger_ratio,
            }
        )
        for r in sc.itertuples():
            mlflow.log_metrics(
                {
                    f"{r.kind}.{m}": float(getattr(r, m))
                    for m in ("recall", "precision", "f1")
                    if pd.notna(getattr(r, m))
                }
            )
        mlflow.log_metric("rules_only.overall.f1", rules_f1)
        mlflow.log_table(sc, "evaluation_by_type.json")
        fig = _chart(sc)
        mlflow.log_figure(fig, "plots/detection_by_type.png")
        example = daily.head(50).astype(
            {c: "float64" for c in daily.columns if pd.api.types.is_integer_dtype(daily[c])}
        )
        with tempfile.TemporaryDirectory() as tmp:
            model.save(Path(tmp) / "state")  # plain files and skops, not a pickle
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=str(Path(__file__).with_name("anomaly_model.py")),
                artifacts={"state": str(Path(tmp) / "state")},
                # the pooled figures as params: the planning job scores the assortment in batches
                signature=infer_signature(example, params=Pooled().params()),
                input_example=example,
                pip_requirements=PIP,
                registered_model_name=ANOMALY.name,
            )
        run_id = run_.info.run_id
    version = registry.register(
        mlflow.MlflowClient(),
        ANOMALY,
        info.registered_model_version,
        float(overall.f1),
        {"stockwise.ds": ds.isoformat()},
    )
    tracking.describe(exp, ANOMALY.name, card)
    tracking.name_version_run(run_id, ANOMALY.name, version, ds.isoformat())
    by_type = {r.kind: {"recall": round(r.recall, 3), "precision": round(r.precision, 3)} for r in sc.itertuples()}
    return AnomalyTrainResult(
        ds.isoformat(),
        ANOMALY.name,
        version,
        round(float(overall.f1), 4),
        by_type,
        run_id,
        round(time.monotonic() - t0, 1),
    )


def promote_job(ds: date, settings: Settings | None = None, margin: float = 0.02) -> AnomalyPromoteResult:
    """The challenger against the champion re-measured on the same injected anomalies."""
    import mlflow

    settings = settings or Settings()
    use_mlflow(settings, ANOMALY.experiment)

    def on_same_injection(champ) -> float:
        sc = evaluate(mlflow.pyfunc.load_model(f"models:/{ANOMALY.name}/{champ.version}"), _daily(settings, ds))
        return float(sc[sc["kind"] == "overall"]["f1"].iloc[0])

    p = registry.promote(mlflow.MlflowClient(), ANOMALY, margin, rescore=on_same_injection)
    return AnomalyPromoteResult(
        ds.isoformat(), p.version, p.promoted, p.reason, p.challenger_score, p.champion_score, p.changed
    )
