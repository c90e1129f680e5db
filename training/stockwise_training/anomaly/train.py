"""Jobs: train and register `stockwise-anomaly`; promote it when it finds anomalies better.

`run` fits the IsolationForest on the daily movement table of `ds`, measures the whole detector
(rules + forest) on a copy of the same table with labelled anomalies injected (precision, recall
and F1 per type, logged to MLflow with a chart), and registers the version as `challenger`.
`promote_job` re-measures the current `champion` on the same injected copy and moves the alias
when the challenger's F1 is higher by the margin (the error 1 - F1 lower by that share).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date

import pandas as pd

from stockwise import lake
from stockwise.anomaly.evaluate import scores
from stockwise.settings import Settings
from stockwise.tracking import use_mlflow
from stockwise_training.anomaly.inject import KINDS, inject
from stockwise_training.anomaly.model import AnomalyModel, ForestParams

log = logging.getLogger(__name__)

MODEL_NAME = "stockwise-anomaly"
EXPERIMENT = "stockwise-anomaly"
FEATURES = "features/movement_daily"
CHAMPION, CHALLENGER = "champion", "challenger"
PIP = ["mlflow", "pandas", "numpy", "scipy", "scikit-learn", "stockwise"]


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


def _daily(settings: Settings, ds: date) -> pd.DataFrame:
    store = lake.open_lake(settings)
    d = lake.read_parquet(store, FEATURES, ds.isoformat())
    d["date"] = pd.to_datetime(d["date"])
    return d[d["date"] <= pd.Timestamp(ds)]


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


def run(ds: date, settings: Settings | None = None) -> AnomalyTrainResult:
    import mlflow
    from mlflow.models import infer_signature

    settings = settings or Settings()
    t0 = time.monotonic()
    daily = _daily(settings, ds)
    fp = ForestParams()
    model = AnomalyModel.fit(daily, p=fp)
    sc = evaluate(model, daily)
    overall = sc[sc["kind"] == "overall"].iloc[0]
    rules_only = evaluate(AnomalyModel(model.rules), daily)  # what the forest adds, on the same injection
    rules_f1 = float(rules_only[rules_only["kind"] == "overall"]["f1"].iloc[0])
    exp = use_mlflow(settings, EXPERIMENT)
    with mlflow.start_run(experiment_id=exp, run_name=f"train-{ds.isoformat()}") as run_:
        mlflow.set_tags({"stockwise.ds": ds.isoformat(), "stockwise.job": "model_training.train_anomaly"})
        mlflow.log_params({"n_estimators": fp.n_estimators, "alert_rate": fp.alert_rate, "rows": len(daily),
                           "phantom_alpha": model.rules.phantom_alpha, "fat_finger_ratio": model.rules.fat_finger_ratio})
        for r in sc.itertuples():
            mlflow.log_metrics({f"{r.kind}.{m}": float(getattr(r, m)) for m in ("recall", "precision", "f1")
                                if pd.notna(getattr(r, m))})
        mlflow.log_metric("rules_only.overall.f1", rules_f1)
        mlflow.log_table(sc, "evaluation_by_type.json")
        fig = _chart(sc)
        mlflow.log_figure(fig, "plots/detection_by_type.png")
        example = daily.head(50).astype({c: "float64" for c in daily.columns if pd.api.types.is_integer_dtype(daily[c])})
        info = mlflow.pyfunc.log_model(name="model", python_model=model, signature=infer_signature(example),
                                       input_example=example, pip_requirements=PIP, registered_model_name=MODEL_NAME)
        run_id = run_.info.run_id
    client = mlflow.MlflowClient()
    version = str(info.registered_model_version)
    client.set_registered_model_alias(MODEL_NAME, CHALLENGER, version)
    client.set_model_version_tag(MODEL_NAME, version, "eval.f1", f"{overall.f1:.6f}")
    client.set_model_version_tag(MODEL_NAME, version, "stockwise.ds", ds.isoformat())
    log.info("registered %s v%s (challenger): F1 %.3f on injected anomalies", MODEL_NAME, version, overall.f1)
    by_type = {r.kind: {"recall": round(r.recall, 3), "precision": round(r.precision, 3)} for r in sc.itertuples()}
    return AnomalyTrainResult(ds.isoformat(), MODEL_NAME, version, round(float(overall.f1), 4), by_type, run_id,
                              round(time.monotonic() - t0, 1))


def promote_job(ds: date, settings: Settings | None = None, margin: float = 0.02) -> AnomalyPromoteResult:
    import mlflow

    from stockwise_training.forecast.registry import champion_version, decide

    settings = settings or Settings()
    use_mlflow(settings, EXPERIMENT)
    client = mlflow.MlflowClient()
    chal = client.get_model_version_by_alias(MODEL_NAME, CHALLENGER)
    chal_f1 = float(chal.tags["eval.f1"])
    champ = champion_version(client, MODEL_NAME)
    champ_f1 = None
    if champ is not None and champ.version == chal.version:
        return AnomalyPromoteResult(ds.isoformat(), chal.version, True, "challenger is already champion", chal_f1, chal_f1)
    if champ is not None:
        model = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}/{champ.version}")
        sc = evaluate(model, _daily(settings, ds))
        champ_f1 = float(sc[sc["kind"] == "overall"]["f1"].iloc[0])
    # decide() promotes on a lower error: the error here is 1 - F1
    ok, why = decide(1 - chal_f1, None if champ_f1 is None else 1 - champ_f1, margin)
    why = why.replace("challenger ", "challenger error (1 - F1) ").replace("champion ", "champion error ", 1)
    for k, v in {"promotion.decision": "promoted" if ok else "rejected", "promotion.reason": why,
                 "promotion.challenger_f1": f"{chal_f1:.6f}",
                 "promotion.champion_f1": "" if champ_f1 is None else f"{champ_f1:.6f}"}.items():
        client.set_model_version_tag(MODEL_NAME, chal.version, k, v)
    if ok:
        client.set_registered_model_alias(MODEL_NAME, CHAMPION, chal.version)
    log.info("promotion of %s v%s: %s", MODEL_NAME, chal.version, why)
    return AnomalyPromoteResult(ds.isoformat(), chal.version, ok, why, chal_f1, champ_f1)
