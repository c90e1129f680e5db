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

from stockwise import bars, frequency, spark
from stockwise.erp.files import FilesConnector
from stockwise.erp.mapping import Mapping, load_mapping
from stockwise.errors import ConfigError
from stockwise.frequency import Frequency
from stockwise.settings import Settings
from stockwise_training.forecast import metrics
from stockwise_training.forecast.backtest import BacktestConfig, run_backtest, seconds_per_fit
from stockwise_training.forecast.champion import forecast_champions, forecast_models
from stockwise_training.forecast.panel import QCOLS, QUANTILES, Matrix, offset, to_matrix

log = logging.getLogger(__name__)
FAR = date(2200, 12, 31)  # "no upper bound" within pandas timestamps


def history_frequency(mapping: Mapping, sales: pd.DataFrame, data_dir) -> Frequency:
    """The mapping's `options.freq`, else the one the sales dates follow; every sales date must
    lie on its grid (checked here, before Spark starts, naming the files)."""
    spec = mapping.extracts["sales"]
    files = spec.file if isinstance(spec.file, str) else ", ".join(spec.file or [])
    what = f"{data_dir}/{files} (extract 'sales', column {spec.columns.get('date', 'date')!r})"
    f = frequency.parse(mapping.options["freq"]) if "freq" in mapping.options else frequency.infer(sales["date"], what)
    frequency.check_grid(sales["date"], f, what)
    log.info("frequency: %s, season %s", f.describe(), mapping.options.get("season_length", f.season))
    return f


def gaps_of(mapping: Mapping, hist: pd.DataFrame) -> str:
    """`options.gaps`: a period without a row is `missing` (the default for a history folder)
    or `zero` (files that list only what sold)."""
    gaps = str(mapping.options.get("gaps", "missing"))
    if gaps not in ("missing", "zero"):
        raise ConfigError(f"{mapping.source}: options.gaps must be 'missing' or 'zero', not {gaps!r}")
    if gaps == "missing" and len(hist) and not (hist["qty"] == 0).any():
        log.warning(
            "the history has no zero quantities: if its files list only what sold, set options.gaps: zero "
            "(a period without a row is read as not observed, not as no sales)"
        )
    return gaps


def load_history(data_dir: str | Path, mapping_path: str | Path):
    mapping = load_mapping(mapping_path)
    conn = FilesConnector(data_dir, mapping)
    sales = conn.extract("sales", FAR, None)
    if conn.has("items"):
        items = conn.extract("items", FAR, None)
    else:
        items = sales[["sku"]].drop_duplicates().assign(category="all", unit_price=np.nan)
    cov, future = conn.covariates(), conn.covariates("future")
    if future is not None:  # the plan for the periods ahead overrides what history says of them
        cov = future if cov is None else pd.concat([cov, future], ignore_index=True)
        cov = cov.drop_duplicates(["sku", "location_id", "date"], keep="last").reset_index(drop=True)
    return mapping, sales, items, cov


@dataclass
class Prepared:
    """A history folder cut at `cutoff` (the last `horizon` periods held out), as the models see it."""

    mapping: Mapping
    sales: pd.DataFrame
    cutoff: pd.Timestamp
    matrix: Matrix
    price_raw: np.ndarray | None
    cfg: BacktestConfig
    statics: pd.DataFrame | None
    exog: pd.DataFrame | None
    gaps: str = "missing"


def prepare_folder(
    data_dir,
    mapping_path,
    horizon: int,
    panel_builder,
    settings: Settings | None = None,
    cutoffs: int = 3,
    model_params: dict | None = None,
    holdout: bool = True,
) -> Prepared:
    """Load a folder through the `files` connector and build the feature panel up to the cutoff:
    the last `horizon` periods held out (`holdout`), or every period with a quantity kept and
    the `horizon` periods after them to forecast (`holdout=False`, `stockwise predict`)."""
    settings = settings or Settings()
    t0 = time.monotonic()
    spark.prestart(settings, "stockwise-features")  # the JVM starts while the files are read
    try:
        return _prepare(data_dir, mapping_path, horizon, panel_builder, settings, cutoffs, model_params, holdout, t0)
    except BaseException:
        spark.cancel_prestart()
        raise


def _prepare(data_dir, mapping_path, horizon, panel_builder, settings, cutoffs, model_params, holdout, t0) -> Prepared:
    mapping, sales, items, cov = load_history(data_dir, mapping_path)
    opts = mapping.options
    f = history_frequency(mapping, sales, data_dir)
    freq = f.alias
    season = int(opts.get("season_length", f.season))
    if holdout:
        last = sales["date"].max()
        cutoff = last - horizon * offset(freq)
    else:
        known = sales.loc[sales["qty"].notna(), "date"]
        if not len(known):
            raise ConfigError(f"{data_dir}: no sales row has a quantity: nothing to learn from")
        cutoff = known.max()
        last = cutoff + horizon * offset(freq)
    log.info(
        "%d sales rows, %d series; training up to %s, forecasting %d periods to %s",
        len(sales),
        sales[["sku", "location_id"]].drop_duplicates().shape[0],
        cutoff.date(),
        horizon,
        last.date(),
    )
    hist = sales[sales["date"] <= cutoff]
    if holdout:
        _check_holdout(sales[sales["date"] > cutoff], cutoff + offset(freq), last, horizon)
    gaps = gaps_of(mapping, hist)
    panel = panel_builder(settings, hist, None, items, cutoff.date(), freq, gaps=gaps)
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
    return Prepared(mapping, sales, cutoff, m, _raw_price(hist, m), cfg, statics, exog, gaps)


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
    with bars.bar("stockwise backtest", total=3) as phases:
        pre = prepare_folder(data_dir, mapping_path, horizon, panel_builder, settings, cutoffs, model_params)
        phases.advance(note="history read, features built")
        m, cfg, statics, exog, price_raw = pre.matrix, pre.cfg, pre.statics, pre.exog, pre.price_raw
        sales, cutoff, opts = pre.sales, pre.cutoff, pre.mapping.options
        if candidates:
            cfg.candidates = tuple(candidates)
        cache: dict = {}
        bt = run_backtest(m, cfg, statics, exog, price_raw, final=cache)
        log.info("champions by segment: %s", bt.champions)
        phases.advance(note="backtest done, champions chosen")
        t1 = time.monotonic()
        fc, _ = forecast_champions(m, bt, cfg, horizon, statics, exog, cache)
        final_seconds = round(time.monotonic() - t1, 1)
        phases.advance(note="final forecast made")
    every = None
    if all_models:  # each candidate's own forecast of the holdout (benchmarks), fits reused
        every = forecast_models(m, bt, cfg, horizon, cfg.candidates, statics, exog, cache)
    fc.insert(0, "series_id", series_ids(fc, opts.get("series_id")))
    # holdout: what the data says happened after the cutoff; a period without a row is no sale
    # (gaps: zero) or not scored (gaps: missing)
    fut = sales[sales["date"] > cutoff]
    act = fc[["sku", "location_id", "date"]].merge(
        fut[["sku", "location_id", "date", "qty"]], how="left", on=["sku", "location_id", "date"]
    )
    qty = act["qty"].fillna(0) if pre.gaps == "zero" else act["qty"]
    actual = qty.to_numpy(dtype=float).reshape(len(m.keys), horizon)
    qarr = fc[list(QCOLS)].to_numpy().reshape(len(m.keys), horizon, len(QCOLS))
    hold, _ = metrics.evaluate(
        actual,
        fc["mean"].to_numpy().reshape(len(m.keys), horizon),
        m.observed,
        metrics.weights(m.observed, price_raw, cfg.weight_window),
        qarr,
        QUANTILES,
    )
    hold["holdout_rows_scored"] = int(np.isfinite(actual).sum())
    if out:
        write_forecast(fc, out)
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
        # LightGBM's fits ran two at a time: wall-clock seconds per fit+predict
        "lightgbm_seconds_per_fit": seconds_per_fit(bt.fit_spans),
        "seconds": round(time.monotonic() - t0, 1),
        "final_fit_seconds": final_seconds,
        "out": str(out) if out else None,
        "backtest": bt,
        "matrix": m,
        "forecast": fc,
        "every_model": every,
    }


def predict_folder(
    data_dir,
    mapping_path,
    horizon: int,
    out: str | Path,
    settings: Settings | None = None,
    candidates: tuple[str, ...] | None = None,
    cutoffs: int = 3,
    model_params: dict | None = None,
    panel_builder=None,
) -> dict:
    """`stockwise predict`: train on every period with a quantity, pick the champions by a
    rolling-origin backtest inside that history, and forecast the `horizon` periods after it,
    with the planned covariates of the mapping's `future` (or `covariates`) files."""
    if panel_builder is None:
        raise ValueError("predict_folder needs the feature job's panel builder")
    t0 = time.monotonic()
    with bars.bar("stockwise predict", total=3) as phases:
        pre = prepare_folder(
            data_dir, mapping_path, horizon, panel_builder, settings, cutoffs, model_params, holdout=False
        )
        phases.advance(note="history read, features built")
        m, cfg = pre.matrix, pre.cfg
        if candidates:
            cfg.candidates = tuple(candidates)
        cache: dict = {}
        bt = run_backtest(m, cfg, pre.statics, pre.exog, pre.price_raw, final=cache)
        log.info("champions by segment: %s", bt.champions)
        phases.advance(note="backtest done, champions chosen")
        fc, _ = forecast_champions(m, bt, cfg, horizon, pre.statics, pre.exog, cache)
        phases.advance(note="forecast made")
    fc.insert(0, "series_id", series_ids(fc, pre.mapping.options.get("series_id")))
    path = write_forecast(fc, out)
    planned = sorted(set(pre.exog.columns) - {"sku", "location_id", "date"}) if pre.exog is not None else []
    bt_all = bt.scores[bt.scores["segment"] == "all"].groupby("model")[["WRMSSE", "RMSSE_mean", "bias_pct"]].mean()
    return {
        "data": str(data_dir),
        "horizon": horizon,
        "history_end": pre.cutoff.date().isoformat(),
        "forecast_from": fc["date"].min().date().isoformat(),
        "forecast_to": fc["date"].max().date().isoformat(),
        "frequency": m.freq,
        "series": len(m.keys),
        "rows": len(fc),
        "covariates": planned,
        "champions": bt.champions,
        "backtest_mean_by_model": bt_all.round(4).to_dict(orient="index"),
        "seconds": round(time.monotonic() - t0, 1),
        "out": str(path),
        "forecast": fc,
    }


def _check_holdout(fut: pd.DataFrame, first, last, horizon: int) -> None:
    """The held-out periods must hold actuals: rows without a quantity are future periods (a
    forecast is `stockwise predict`), and scoring them as zeros would print nonsense."""
    empty = int(fut["qty"].isna().sum())
    if empty and empty == len(fut):
        raise ConfigError(
            f"the last {horizon} periods ({first.date()} .. {last.date()}) have no "
            f"quantities ({empty:,} rows without qty): they look like future periods. `stockwise backtest` "
            "scores a holdout with actuals; to forecast beyond the data use `stockwise predict`"
        )
    if empty:
        log.warning(
            "%d of %d holdout rows have no quantity: they are not scored (holdout_rows_scored says how many are)",
            empty,
            len(fut),
        )


def series_ids(fc: pd.DataFrame, template: str | None) -> list[str]:
    """A series id per row: the mapping's `options.series_id` template, else the sku where there is
    one location and `sku_location` where there are several."""
    if not template:
        template = "{sku}" if fc["location_id"].nunique() <= 1 else "{sku}_{location_id}"
    return [template.format(sku=s, location_id=lo) for s, lo in zip(fc["sku"], fc["location_id"], strict=True)]


def write_forecast(fc: pd.DataFrame, out: str | Path) -> Path:
    """The forecast file users and scorers read: `series_id, date, forecast`, the quantiles, then
    the keys and the model behind each row; full precision (no rounding)."""
    cols = ["series_id", "date", "forecast", *QCOLS, "sku", "location_id", "model"]
    df = fc.rename(columns={"mean": "forecast"})
    df = df[[c for c in cols if c in df] + [c for c in df if c not in cols]]
    df = df.assign(date=pd.to_datetime(df["date"]).dt.strftime("%Y-%m-%d"))
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False)
    return path


def _raw_price(hist: pd.DataFrame, m) -> np.ndarray | None:
    """Prices as recorded (NaN where none), aligned to the matrix: for dollar-sales weights;
    None for a history without prices (the weights are then units)."""
    if "price" not in hist or not pd.to_numeric(hist["price"], errors="coerce").gt(0).any():
        return None
    p = hist[["sku", "location_id", "date", "price"]].copy()
    s_idx = pd.MultiIndex.from_frame(m.keys).get_indexer(pd.MultiIndex.from_frame(p[["sku", "location_id"]]))
    t_idx = m.dates.get_indexer(pd.to_datetime(p["date"]))
    ok = (s_idx >= 0) & (t_idx >= 0)
    out = np.full((len(m.keys), len(m.dates)), np.nan)
    out[s_idx[ok], t_idx[ok]] = pd.to_numeric(p["price"], errors="coerce").to_numpy()[ok]
    return out
