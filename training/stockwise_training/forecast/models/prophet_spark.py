"""Prophet per series, fitted in parallel through Spark's `applyInPandas`.

Each sku x location is one Prophet model: weekly and yearly seasonality, the country's holidays,
price and promotion as regressors when the panel has them (their future values: the last known
price and no promotion, unless a frame of planned values is given), stockout days left out as
censored (Prophet handles the gaps), the forecast and its 80% interval clipped at zero. A series
that fails (too little history, a numerical failure) comes back with its error, never swallowed:
`forecast` reports them, and raises when more than `max_failed_share` of the series failed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

SCHEMA = (
    "sku string, location_id string, date timestamp, mean double, p10 double, p50 double, p90 double, status string"
)


class ProphetFailures(RuntimeError):
    """Too many series failed to fit."""


@dataclass(frozen=True)
class ProphetParams:
    horizon: int = 28
    country: str | None = "US"
    interval: float = 0.8  # -> p10 / p90
    uncertainty_samples: int = 200
    min_history: int = 14  # observed days
    max_failed_share: float = 0.05
    seed: int = 0


def fit_series(pdf: pd.DataFrame, p: ProphetParams, future_cov: pd.DataFrame | None = None) -> pd.DataFrame:
    """One series' forecast rows (or its failure)."""
    sku, loc = pdf["sku"].iloc[0], pdf["location_id"].iloc[0]
    last = pd.to_datetime(pdf["date"]).max()
    dates = pd.date_range(last + pd.Timedelta(days=1), periods=p.horizon, freq="D")

    def rows(mean, lo, mid, hi, status):
        return pd.DataFrame(
            {
                "sku": sku,
                "location_id": loc,
                "date": dates,
                "mean": mean,
                "p10": lo,
                "p50": mid,
                "p90": hi,
                "status": status,
            }
        )

    try:
        import cmdstanpy
        from prophet import Prophet

        cmdstanpy.disable_logging()
        for name in ("prophet", "prophet.plot", "cmdstanpy"):
            logging.getLogger(name).setLevel(logging.ERROR)
        hist = pdf.sort_values("date")
        observed = hist[~hist["stockout"].astype(bool)] if "stockout" in hist else hist
        if len(observed) < p.min_history:
            raise ValueError(f"{len(observed)} observed days, fewer than {p.min_history}")
        df = pd.DataFrame(
            {"ds": pd.to_datetime(observed["date"]).to_numpy(), "y": observed["qty"].astype(float).to_numpy()}
        )
        regs = [
            c
            for c in ("price", "on_promo")
            if c in observed and observed[c].notna().any() and observed[c].astype(float).nunique() > 1
        ]
        for c in regs:
            df[c] = observed[c].astype(float).fillna(observed[c].astype(float).median()).to_numpy()
        m = Prophet(
            interval_width=p.interval,
            uncertainty_samples=p.uncertainty_samples,
            yearly_seasonality=len(observed) >= 365,
            weekly_seasonality=True,
            daily_seasonality=False,
        )
        if p.country:
            m.add_country_holidays(country_name=p.country)
        for c in regs:
            m.add_regressor(c)
        np.random.seed(p.seed)
        m.fit(df)
        fut = pd.DataFrame({"ds": dates})
        for c in regs:
            planned = None
            if future_cov is not None and c in future_cov:
                fc = future_cov[(future_cov["sku"] == sku) & (future_cov["location_id"] == loc)]
                planned = fc.set_index(pd.to_datetime(fc["date"]))[c].reindex(dates).astype(float)
            default = float(df[c].iloc[-1]) if c == "price" else 0.0
            fut[c] = planned.fillna(default).to_numpy() if planned is not None else default
        f = m.predict(fut)
        clip = lambda s: np.maximum(s.to_numpy(dtype=float), 0.0)  # noqa: E731
        return rows(clip(f["yhat"]), clip(f["yhat_lower"]), clip(f["yhat"]), clip(f["yhat_upper"]), "ok")
    except Exception as e:  # noqa: BLE001 - reported per series, counted, raised above a share
        nan = np.full(p.horizon, np.nan)
        return rows(nan, nan, nan, nan, f"failed: {type(e).__name__}: {str(e)[:200]}")


@dataclass
class ProphetResult:
    forecast: pd.DataFrame
    series: int
    failed: int
    failures: list[dict]
    seconds: float


def forecast(spark, panel, p: ProphetParams = ProphetParams()) -> ProphetResult:
    """Forecast every series of `panel` (a Spark or pandas frame: sku, location_id, date, qty and
    optionally stockout, price, on_promo) `p.horizon` days past its last date."""
    import time

    t0 = time.monotonic()
    sdf = panel if hasattr(panel, "groupBy") else spark.createDataFrame(panel)
    cols = [c for c in ("sku", "location_id", "date", "qty", "stockout", "price", "on_promo") if c in sdf.columns]
    out = (
        sdf.select(*cols)
        .groupBy("sku", "location_id")
        .applyInPandas(lambda pdf: fit_series(pdf, p), schema=SCHEMA)
        .toPandas()
    )
    status = out.drop_duplicates(["sku", "location_id"])
    bad = status[status["status"] != "ok"]
    n = len(status)
    failures = bad[["sku", "location_id", "status"]].head(20).to_dict(orient="records")
    if len(bad):
        log.warning("prophet: %d of %d series failed, e.g. %s", len(bad), n, failures[:3])
    if n and len(bad) / n > p.max_failed_share:
        raise ProphetFailures(
            f"prophet: {len(bad)} of {n} series failed ({len(bad) / n:.1%} > "
            f"{p.max_failed_share:.0%}); e.g. {failures[:5]}"
        )
    return ProphetResult(out, n, len(bad), failures, round(time.monotonic() - t0, 1))
