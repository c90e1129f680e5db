"""Does treating stockout days as censored (not as zero demand) lower forecast bias?

    .venv/bin/python bench/censoring_bias.py [--ds 2025-12-31] [--models moving_average,tsb,lightgbm]

Needs `make run` first (the demo ERP, its truth store and the feature panel in the lake). Each
model is fitted at a cutoff `horizon` days before DS twice on the same panel: once with stockout
days censored (Stockwise's way) and once reading them as zero sales (the naive way). Both are
scored against the demo ERP's *true* demand (the truth store, which the pipeline never reads)
over the next `horizon` days, for all series and for those that had a stockout in the last 28
days before the cutoff.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date

import numpy as np
import pandas as pd
import sqlalchemy as sa

from stockwise import catalog, lake
from stockwise.settings import Settings
from stockwise_training.forecast.backtest import BacktestConfig, fit_predict
from stockwise_training.forecast.panel import to_matrix


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ds", type=date.fromisoformat, default=date(2025, 12, 31))
    ap.add_argument("--horizon", type=int, default=28)
    ap.add_argument("--models", default="moving_average,shaped_average,tsb,lightgbm")
    a = ap.parse_args()
    s = Settings()
    store = lake.open_lake(s)
    panel = catalog.DEMAND_PANEL.read(store, a.ds)
    panel["date"] = pd.to_datetime(panel["date"])
    with sa.create_engine(s.truth).connect() as c:
        truth = pd.read_sql("SELECT date, sku, location_id, true_demand FROM demand", c, parse_dates=["date"])
    cut = pd.Timestamp(a.ds) - pd.Timedelta(days=a.horizon)
    m = to_matrix(panel, "D")
    train = m.upto(cut)
    naive = to_matrix(panel.assign(stockout=False), "D").upto(cut)
    fut = pd.date_range(cut + pd.Timedelta(days=1), periods=a.horizon)
    t = truth[truth["date"].isin(fut)].pivot_table(index=["sku", "location_id"], columns="date", values="true_demand")
    actual = t.reindex(pd.MultiIndex.from_frame(m.keys)).reindex(columns=fut).to_numpy()
    hit = np.nansum(train.cols["stockout"][:, -28:], axis=1) > 0
    cfg = BacktestConfig(horizon=a.horizon)
    print(f"cutoff {cut.date()}, {len(m.keys)} series, {int(hit.sum())} with a stockout in the 28 days before it")
    print("| model | stockouts as | bias % (all) | bias % (stocked-out series) | MAE (all) |")
    print("|---|---|---|---|---|")
    for name in a.models.split(","):
        for label, mat in (("censored (Stockwise)", train), ("zero demand (naive)", naive)):
            _, mean, _ = fit_predict(name, mat, a.horizon, cfg)
            ok = ~np.isnan(actual)
            bias = (mean[ok] - actual[ok]).sum() / actual[ok].sum() * 100
            okh = ok & hit[:, None]
            bias_h = (mean[okh] - actual[okh]).sum() / actual[okh].sum() * 100
            mae = np.abs(mean[ok] - actual[ok]).mean()
            print(f"| {name} | {label} | {bias:+.1f} | {bias_h:+.1f} | {mae:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
