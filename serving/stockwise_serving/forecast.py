"""Job: forecast every sku x location for the planning horizon, logged as an MLflow run.

Today this is the baseline (a day-of-week-shaped moving average with quantiles from its own
backtest residuals). The run is flagged as a baseline in MLflow and in the report.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import date, timedelta

from stockwise import lake
from stockwise.forecasting import baseline
from stockwise.settings import Settings
from stockwise.tracking import use_mlflow

log = logging.getLogger(__name__)

EXPERIMENT = "stockwise-forecast"
PANEL = "features/demand_panel"
OUT = "forecasts"


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


def read_panel(store, ds: date, days: int):
    """The last `days` days of the feature panel (only the columns the baseline needs)."""
    import io

    import pandas as pd
    import pyarrow.parquet as pq

    part = lake.read_manifest(store, PANEL, ds.isoformat())
    since = pd.Timestamp(ds - timedelta(days=days))
    frames = []
    for name in sorted(n for n in part.files if n.endswith(".parquet")):
        t = pq.read_table(io.BytesIO(store.get(part.key(name))),
                          columns=["sku", "location_id", "date", "qty", "stockout"])
        df = t.to_pandas()
        frames.append(df[pd.to_datetime(df["date"]) > since])
    df = pd.concat(frames, ignore_index=True)
    df["date"] = pd.to_datetime(df["date"])
    return df


def run(ds: date, settings: Settings | None = None, horizon_days: int | None = None) -> ForecastResult:
    import mlflow

    settings = settings or Settings()
    store = lake.open_lake(settings)
    h = horizon_days or settings.horizon_days
    t0 = time.monotonic()
    params = baseline.BaselineParams()
    panel = read_panel(store, ds, 3 * h + params.season * params.season_weeks + 1)
    fc, metrics = baseline.forecast(panel, ds, h, params)
    log.info("no registered champion is served yet: using the %s baseline", baseline.METHOD)
    use_mlflow(settings, EXPERIMENT)
    with mlflow.start_run(run_name=f"baseline-{ds.isoformat()}") as run_:
        mlflow.set_tags({"stockwise.ds": ds.isoformat(), "stockwise.model": baseline.METHOD,
                         "stockwise.baseline": "true", "stockwise.job": "inventory_planning.forecast"})
        mlflow.log_params({"method": baseline.METHOD, "horizon_days": h, "window": params.window,
                           "season": params.season, "season_weeks": params.season_weeks})
        mlflow.log_metrics({f"backtest_{k}": v for k, v in metrics.items()})
        mlflow.log_dict({"backtest": metrics, "series": int(fc[["sku", "location_id"]].drop_duplicates().shape[0])},
                        "backtest.json")
        run_id = run_.info.run_id
    part = lake.write_partition(
        store, OUT, ds.isoformat(), {"forecast.parquet": lake.parquet_bytes(fc)},
        meta={"method": baseline.METHOD, "baseline": True, "mlflow_run_id": run_id,
              "horizon_days": h, "backtest": json.loads(json.dumps(metrics))},
    )
    n_series = int(fc[["sku", "location_id"]].drop_duplicates().shape[0])
    log.info("forecast: %d series x %d days; backtest WAPE %.3f, bias %.1f%%, 80%% coverage %.2f",
             n_series, h, metrics["wape"], metrics["bias_pct"], metrics["coverage_80"])
    return ForecastResult(ds.isoformat(), baseline.METHOD, True, n_series, len(fc), h, metrics, run_id,
                          store.uri(part.key("forecast.parquet")), round(time.monotonic() - t0, 1))
