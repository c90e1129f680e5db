"""Job: forecast every sku x location for the planning horizon, logged as an MLflow run.

The model is the registered `stockwise-demand@champion` (loaded through MLflow's pyfunc, so
whatever a reviewer promotes in the MLflow UI is what plans). With no champion registered, or
when the champion cannot serve the asked horizon, the job says so and falls back to the baseline
(a weekday-shaped moving average with quantiles from its own backtest residuals); the run is
flagged as a baseline in MLflow and in the report.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import date

from stockwise import catalog, lake, registry
from stockwise.forecasting import baseline
from stockwise.registry import DEMAND
from stockwise.settings import Settings
from stockwise.tracking import use_mlflow

log = logging.getLogger(__name__)

EXPERIMENT = "stockwise-forecast"


@dataclass(frozen=True)
class ForecastResult:
    ds: str
    method: str
    is_baseline: bool
    series: int
    rows: int
    horizon_days: int
    backtest: dict
    mlflow_run_id: str
    uri: str
    seconds: float
    fallback: str = ""


Z90 = 1.2815515655446004


def run(ds: date, settings: Settings | None = None, horizon_days: int | None = None) -> ForecastResult:
    import mlflow

    settings = settings or Settings()
    store = lake.open_lake(settings)
    h = horizon_days or settings.horizon_days
    t0 = time.monotonic()
    use_mlflow(settings, EXPERIMENT)
    client = mlflow.MlflowClient()
    panel = catalog.read_panel(store, ds, 400) if registry.champion(client, DEMAND) is not None else None

    def forecast_with(model, mv):
        if _trained_for(mv) and h > _trained_for(mv):
            raise ValueError(f"trained for {_trained_for(mv)} days, {h} asked")
        return _predict(model, panel, h)

    fc, mv, failures = registry.serve(client, DEMAND, forecast_with) if panel is not None else (None, None, [])
    if mv is not None:
        fallback = ""
        if failures:
            fallback = (
                f"the champion could not be used ({'; '.join(failures)}); served {DEMAND.name} "
                f"v{mv.version}, the champion before it"
            )
            log.error("FALLBACK: %s", fallback)
        return _serve_champion(ds, settings, store, h, mv, fc, fallback, t0)
    fallback = ""
    if failures:
        fallback = (
            f"no registered champion could forecast ({'; '.join(failures)}); served the {baseline.METHOD} baseline"
        )
        log.error("FALLBACK: %s", fallback)
    else:
        log.warning("no champion is registered for %s: falling back to the %s baseline", DEMAND.name, baseline.METHOD)
    params = baseline.BaselineParams()
    panel = catalog.read_panel(
        store, ds, 3 * h + params.season * params.season_weeks + 1, ["sku", "location_id", "date", "qty", "stockout"]
    )
    fc, metrics = baseline.forecast(panel, ds, h, params)
    with mlflow.start_run(run_name=f"baseline-{ds.isoformat()}") as run_:
        mlflow.set_tags(
            {
                "stockwise.ds": ds.isoformat(),
                "stockwise.model": baseline.METHOD,
                "stockwise.baseline": "true",
                "stockwise.job": "inventory_planning.forecast",
                "stockwise.fallback": fallback[:5000],
            }
        )
        mlflow.log_params(
            {
                "method": baseline.METHOD,
                "horizon_days": h,
                "window": params.window,
                "season": params.season,
                "season_weeks": params.season_weeks,
            }
        )
        mlflow.log_metrics({f"backtest_{k}": v for k, v in metrics.items()})
        mlflow.log_dict(
            {"backtest": metrics, "series": int(fc[["sku", "location_id"]].drop_duplicates().shape[0])}, "backtest.json"
        )
        run_id = run_.info.run_id
    part = catalog.FORECASTS.write(
        store,
        ds,
        {"forecast.parquet": lake.parquet_bytes(fc)},
        meta={
            "method": baseline.METHOD,
            "baseline": True,
            "mlflow_run_id": run_id,
            "fallback": fallback,
            "horizon_days": h,
            "backtest": json.loads(json.dumps(metrics)),
        },
    )
    n_series = int(fc[["sku", "location_id"]].drop_duplicates().shape[0])
    log.info(
        "forecast: %d series x %d days; backtest WAPE %.3f, bias %.1f%%, 80%% coverage %.2f",
        n_series,
        h,
        metrics["wape"],
        metrics["bias_pct"],
        metrics["coverage_80"],
    )
    return ForecastResult(
        ds.isoformat(),
        baseline.METHOD,
        True,
        n_series,
        len(fc),
        h,
        metrics,
        run_id,
        store.uri(part.key("forecast.parquet")),
        round(time.monotonic() - t0, 1),
        fallback,
    )


def _trained_for(mv) -> int:
    return int(json.loads((mv.tags or {}).get("horizon", "0")) or 0)


def _predict(model, panel, h: int):
    """Forecast with one version; refuse output that is not a complete, finite, non-negative forecast."""
    import numpy as np
    import pandas as pd

    panel = panel.assign(date=pd.to_datetime(panel["date"]))
    fc = model.predict(panel, params={"horizon": h})
    series = panel[["sku", "location_id"]].drop_duplicates()
    got = fc.groupby(["sku", "location_id"]).size()
    if len(got) < len(series) or (got != h).any():
        raise ValueError(
            f"forecast covers {len(got)} of {len(series)} series with {sorted(set(got.tolist()))} days each, {h} asked"
        )
    vals = fc[["mean", "sigma"]].to_numpy(dtype=float)
    if not np.isfinite(vals).all() or (vals < 0).any():
        raise ValueError("forecast has negative or non-finite values")
    return fc


def _serve_champion(ds: date, settings: Settings, store, h: int, mv, fc, fallback: str, t0: float) -> ForecastResult:
    import mlflow

    fc["method"] = f"{DEMAND.name} v{mv.version} ({'/'.join(sorted(set(fc['model'])))})"
    method = f"{DEMAND.name} v{mv.version}"
    # who made this version champion, when and why: the plan's lineage shows it
    prov = registry.provenance(mlflow.MlflowClient(), DEMAND, mv)
    log.info("%s serves: %s by %s at %s", method, prov["how"], prov["by"], prov["at"])
    with mlflow.start_run(run_name=f"serve-{ds.isoformat()}") as run_:
        mlflow.set_tags(
            {
                "stockwise.ds": ds.isoformat(),
                "stockwise.model": method,
                "stockwise.baseline": "false",
                "stockwise.job": "inventory_planning.forecast",
                "stockwise.fallback": fallback[:5000],
            }
        )
        mlflow.log_params(
            {"model_uri": f"models:/{DEMAND.name}/{mv.version}", "model_version": mv.version, "horizon_days": h}
        )
        mlflow.log_metrics({"series": float(fc[["sku", "location_id"]].drop_duplicates().shape[0])})
        run_id = run_.info.run_id
    part = catalog.FORECASTS.write(
        store,
        ds,
        {"forecast.parquet": lake.parquet_bytes(fc)},
        meta={
            "method": method,
            "baseline": False,
            "mlflow_run_id": run_id,
            "horizon_days": h,
            "fallback": fallback,
            "model_version": mv.version,
            "model_provenance": prov,
            "backtest": {"wrmsse": float(mv.tags.get("backtest.wrmsse", "nan"))},
        },
    )
    n_series = int(fc[["sku", "location_id"]].drop_duplicates().shape[0])
    log.info("forecast: %d series x %d days with %s (%s)", n_series, h, method, "fallback" if fallback else "champion")
    return ForecastResult(
        ds.isoformat(),
        method,
        False,
        n_series,
        len(fc),
        h,
        {"wrmsse": float(mv.tags.get("backtest.wrmsse", "nan"))},
        run_id,
        store.uri(part.key("forecast.parquet")),
        round(time.monotonic() - t0, 1),
        fallback,
    )
