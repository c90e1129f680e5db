"""`stockwise backtest`: measure Stockwise on any history folder through the `files` connector.

Trains on everything before the last `horizon` periods (candidates compared by a rolling-origin
backtest inside that window, a champion per demand segment), forecasts those periods, writes
the forecasts and prints the metrics on them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from stockwise.erp.files import FilesConnector
from stockwise.erp.mapping import Mapping, load_mapping
from stockwise.settings import Settings
from stockwise_training.forecast import metrics
from stockwise_training.forecast.backtest import BacktestConfig, run_backtest
from stockwise_training.forecast.champion import forecast_champions, forecast_models
from stockwise_training.forecast.panel import QCOLS, QUANTILES, Matrix, offset, to_matrix

log = logging.getLogger(__name__)
FAR = date(2200, 12, 31)  # "no upper bound" within pandas timestamps


def load_history(data_dir: str | Path, mapping_path: str | Path):
    mapping = load_mapping(mapping_path)
    conn = FilesConnector(data_dir, mapping)
    sales = conn.extract("sales", FAR, None)
    if conn.has("items"):
        items = conn.extract("items", FAR, None)
    else:
        items = sales[["sku"]].drop_duplicates().assign(category="all", unit_price=np.nan)
    return mapping, sales, items, conn.covariates()


@dataclass
class Prepared:
    """A history folder cut at `cutoff` (the last `horizon` periods held out), as the models see it."""

    mapping: Mapping
    sales: pd.DataFrame
    cutoff: pd.Timestamp
    matrix: Matrix
    price_raw: np.ndarray
    cfg: BacktestConfig
    statics: pd.DataFrame | None
    exog: pd.DataFrame | None


def prepare_folder(
    data_dir,
    mapping_path,
    horizon: int,
    panel_builder,
    settings: Settings | None = None,
    cutoffs: int = 3,
    model_params: dict | None = None,
) -> Prepared:
    """Load a folder through the `files` connector and build the feature panel up to the cutoff."""
    settings = settings or Settings()
    t0 = time.monotonic()
    mapping, sales, items, cov = load_history(data_dir, mapping_path)
    opts = mapping.options
    freq = opts.get("freq", "D")
    season = int(opts.get("season_length", 7 if freq == "D" else 12))
    last = sales["date"].max()
    cutoff = last - horizon * offset(freq)
    log.info(
        "%d sales rows, %d series; training up to %s, forecasting %d periods to %s",
        len(sales),
        sales[["sku", "location_id"]].drop_duplicates().shape[0],
        cutoff.date(),
        horizon,
        last.date(),
    )
    hist = sales[sales["date"] <= cutoff]
    panel = panel_builder(settings, hist, None, items, cutoff.date(), freq)
    # series that never sold start no panel row; they still get a (zero) forecast
    keys = hist[["sku", "location_id"]].drop_duplicates()
    seen = panel[["sku", "location_id"]].drop_duplicates()
    silent = keys.merge(seen, how="left", indicator=True).query("_merge == 'left_only'")[["sku", "location_id"]]
    if len(silent):
        log.info("%d series have no positive sales before the cutoff: forecast as zero", len(silent))
        panel = pd.concat([panel, silent.assign(date=cutoff, qty=0.0, stockout=False)], ignore_index=True)
    m = to_matrix(panel, freq)
    log.info("panel: %d series x %d periods (Spark, %.0fs)", len(m.keys), len(m.dates), time.monotonic() - t0)
    cfg = BacktestConfig(
        horizon=horizon,
        cutoffs=cutoffs,
        season=season,
        weight_window=int(opts.get("weight_window", horizon)),
        model_params=model_params or {},
    )
    statics = items[["sku", "category"]].drop_duplicates("sku") if "category" in items else None
    exog = cov[cov["date"] <= last] if cov is not None else None
    return Prepared(mapping, sales, cutoff, m, _raw_price(hist, m), cfg, statics, exog)


def backtest_folder(
    data_dir,
    mapping_path,
    horizon: int,
    out: str | Path | None = None,
    settings: Settings | None = None,
    candidates: tuple[str, ...] | None = None,
    cutoffs: int = 3,
    model_params: dict | None = None,
    all_models: bool = False,
    panel_builder=None,
) -> dict:
    """`panel_builder(settings, sales, stock, items, ds, freq)` is the feature job's
    `build_panel_pandas` (passed in: stage packages do not import each other)."""
    if panel_builder is None:
        raise ValueError("backtest_folder needs the feature job's panel builder")
    t0 = time.monotonic()
    pre = prepare_folder(data_dir, mapping_path, horizon, panel_builder, settings, cutoffs, model_params)
    m, cfg, statics, exog, price_raw = pre.matrix, pre.cfg, pre.statics, pre.exog, pre.price_raw
    sales, cutoff, opts = pre.sales, pre.cutoff, pre.mapping.options
    if candidates:
        cfg.candidates = tuple(candidates)
    bt = run_backtest(m, cfg, statics, exog, price_raw)
    log.info("champions by segment: %s", bt.champions)
    cache: dict = {}
    t1 = time.monotonic()
    fc, _ = forecast_champions(m, bt, cfg, horizon, statics, exog, cache)
    final_seconds = round(time.monotonic() - t1, 1)
    every = None
    if all_models:  # each candidate's own forecast of the holdout (benchmarks), fits reused
        every = forecast_models(m, bt, cfg, horizon, cfg.candidates, statics, exog, cache)
    tmpl = opts.get("series_id")
    if tmpl:
        fc.insert(
            0,
            "series_id",
            [tmpl.format(sku=s, location_id=lo) for s, lo in zip(fc["sku"], fc["location_id"], strict=True)],
        )
    # holdout: what the data says happened after the cutoff (gaps are zero sales)
    fut = sales[sales["date"] > cutoff]
    act = fc[["sku", "location_id", "date"]].merge(
        fut[["sku", "location_id", "date", "qty"]], how="left", on=["sku", "location_id", "date"]
    )
    actual = act["qty"].fillna(0).to_numpy().reshape(len(m.keys), horizon)
    qarr = fc[list(QCOLS)].to_numpy().reshape(len(m.keys), horizon, len(QCOLS))
    hold, _ = metrics.evaluate(
        actual,
        fc["mean"].to_numpy().reshape(len(m.keys), horizon),
        m.observed,
        metrics.weights(m.observed, price_raw, cfg.weight_window),
        qarr,
        QUANTILES,
    )
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        fc.to_csv(out, index=False, float_format="%.4f")
    bt_all = (
        bt.scores[bt.scores["segment"] == "all"]
        .groupby("model")[["WRMSSE", "RMSSE_mean", "MASE_mean", "bias_pct"]]
        .mean()
    )
    return {
        "data": str(data_dir),
        "horizon": horizon,
        "cutoff": cutoff.date().isoformat(),
        "series": len(m.keys),
        "champions": bt.champions,
        "holdout": hold,
        "backtest_mean_by_model": bt_all.round(4).to_dict(orient="index"),
        "fit_seconds": bt.seconds,
        "seconds": round(time.monotonic() - t0, 1),
        "final_fit_seconds": final_seconds,
        "out": str(out) if out else None,
        "backtest": bt,
        "matrix": m,
        "forecast": fc,
        "every_model": every,
    }


def _raw_price(hist: pd.DataFrame, m) -> np.ndarray:
    """Prices as recorded (NaN where none), aligned to the matrix: for dollar-sales weights."""
    p = hist[["sku", "location_id", "date", "price"]].copy()
    s_idx = pd.MultiIndex.from_frame(m.keys).get_indexer(pd.MultiIndex.from_frame(p[["sku", "location_id"]]))
    t_idx = m.dates.get_indexer(pd.to_datetime(p["date"]))
    ok = (s_idx >= 0) & (t_idx >= 0)
    out = np.full((len(m.keys), len(m.dates)), np.nan)
    out[s_idx[ok], t_idx[ok]] = pd.to_numeric(p["price"], errors="coerce").to_numpy()[ok]
    return out
