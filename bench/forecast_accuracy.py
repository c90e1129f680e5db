"""Forecast accuracy on the shared datasets' official holdouts: Stockwise's models vs peers.

    .venv/bin/python bench/forecast_accuracy.py [--datasets m5_tiny carparts] [--no-peers]

Stockwise runs exactly as `stockwise backtest` does (files connector + committed mapping, Spark
feature panel, rolling-origin backtest inside the training window, champion per segment); every
candidate's own holdout forecast is scored too. Peers run in the same process on the same split:
statsforecast (SeasonalNaive, AutoETS, CrostonOptimized) and Nixtla mlforecast with LightGBM on
the same lags. Every forecast is scored with the reference scorer `score.py`; interval coverage
is measured on the same rows. Nothing is tuned on the holdout. Needs `make bench-deps`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("STOCKWISE_DATA", REPO.parent / "shared" / "data"))
HORIZON = {"m5_tiny": 28, "carparts": 12, "m5_weekly": 13}
FREQ = {"m5_tiny": ("D", 7), "carparts": ("MS", 12), "m5_weekly": ("W-FRI", 52)}
TEMPLATE = {"m5_tiny": "{sku}_{location_id}", "carparts": "{sku}", "m5_weekly": "{sku}_{location_id}"}


def folder(name: str) -> Path:
    """A shared dataset, or one derived from it by a bench script (made on first use)."""
    if name == "m5_weekly":
        sys.path.insert(0, str(REPO / "bench"))
        from m5_weekly import OUT, derive

        return OUT if (OUT / "meta.json").exists() else derive()
    return DATA / name


def load_scorer():
    sys.path.insert(0, str(DATA))
    import score  # the reference scorer, ../shared/data/score.py

    return score


def coverage(df: pd.DataFrame, test: pd.DataFrame, lo: str, hi: str) -> float:
    j = test[["series_id", "date", "qty"]].merge(df, on=["series_id", "date"], how="inner")
    if lo not in j or j[lo].isna().all():
        return float("nan")
    return float(((j["qty"] >= j[lo]) & (j["qty"] <= j[hi])).mean())


def score_row(scorer, data, name, fc, test, seconds, lo80=None, hi80=None, lo95=None, hi95=None):
    res, _ = scorer.score(
        fc[["series_id", "date", "mean"]].rename(columns={"mean": "forecast"}), None, data=data, verbose=False
    )
    row = {
        "model": name,
        "WRMSSE": res["WRMSSE"],
        "RMSSE": res["RMSSE_mean"],
        "MASE": res["MASE_mean"],
        "WAPE": res["WAPE"],
        "bias_pct": res["bias_pct"],
        "cov80": coverage(fc, test, lo80, hi80) if lo80 else float("nan"),
        "cov95": coverage(fc, test, lo95, hi95) if lo95 else float("nan"),
        "seconds": seconds,
    }
    return row


def stockwise_rows(name, scorer, data, test, log):
    from stockwise_features.demand_panel import build_panel_pandas
    from stockwise_training.forecast.job import backtest_folder
    from stockwise_training.forecast.panel import QCOLS, future_dates

    h = HORIZON[name]
    res = backtest_folder(
        folder(name),
        REPO / "bench" / "mappings" / f"{name}.yaml",
        h,
        REPO / ".stockwise" / "bench" / f"{name}_champion.csv",
        all_models=True,
        panel_builder=build_panel_pandas,
    )
    log.info("%s: champions %s", name, res["champions"])
    m = res["matrix"]
    tmpl = TEMPLATE[name]
    sid = [tmpl.format(sku=s, location_id=lo) for s, lo in zip(m.keys["sku"], m.keys["location_id"], strict=True)]
    dates = future_dates(m.dates[-1], h, m.freq)
    rows = []
    cutoffs = res["backtest"].scores["cutoff"].nunique()
    for model, (mu, q) in res["every_model"].items():
        fc = pd.DataFrame(
            {"series_id": np.repeat(sid, h), "date": np.tile(dates.to_numpy(), len(sid)), "mean": mu.ravel()}
        )
        for j, c in enumerate(QCOLS):
            fc[c] = q[..., j].ravel()
        secs = res["fit_seconds"].get(model, float("nan")) / cutoffs
        if model == "lightgbm" and res.get("lightgbm_seconds_per_fit"):  # fits made two at a time
            secs = res["lightgbm_seconds_per_fit"]
        rows.append(
            score_row(scorer, data, f"stockwise:{model}", fc, test, round(secs, 1), "p10", "p90", "p2_5", "p97_5")
        )
    champ = res["forecast"].copy()
    champ["series_id"] = [
        tmpl.format(sku=s, location_id=lo) for s, lo in zip(champ["sku"], champ["location_id"], strict=True)
    ]
    rows.append(
        score_row(
            scorer, data, "stockwise:CHAMPION (per segment)", champ, test, res["seconds"], "p10", "p90", "p2_5", "p97_5"
        )
    )
    return rows, res["champions"]


def peer_rows(name, scorer, data, train, test, log):
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS, CrostonOptimized, SeasonalNaive
    from utilsforecast.preprocessing import fill_gaps

    freq, season = FREQ[name]
    h = HORIZON[name]
    df = train.rename(columns={"series_id": "unique_id", "date": "ds", "qty": "y"})[["unique_id", "ds", "y"]]
    df = fill_gaps(df, freq=freq, end="per_serie").fillna({"y": 0.0})
    rows = []
    for model, kw in (
        (SeasonalNaive(season_length=season), {"level": [80, 95]}),
        (AutoETS(season_length=season), {"level": [80, 95]}),
        (CrostonOptimized(), {}),
    ):
        t0 = time.monotonic()
        sf = StatsForecast(models=[model], freq=freq, n_jobs=1)
        out = sf.forecast(df=df, h=h, **kw)
        secs = round(time.monotonic() - t0, 1)
        col = [c for c in out.columns if c not in ("unique_id", "ds") and "-lo-" not in c and "-hi-" not in c][0]
        fc = out.rename(columns={"unique_id": "series_id", "ds": "date", col: "mean"})
        fc["mean"] = fc["mean"].clip(lower=0)
        args = (f"{col}-lo-80", f"{col}-hi-80", f"{col}-lo-95", f"{col}-hi-95") if kw else (None,) * 4
        rows.append(score_row(scorer, data, f"statsforecast:{col}", fc, test, secs, *args))
        log.info("%s: %s done in %.0fs", name, col, secs)
    rows.append(mlforecast_row(name, scorer, data, df, test, freq, h, log))
    return rows


def mlforecast_row(name, scorer, data, df, test, freq, h, log):
    import lightgbm as lgb
    from mlforecast import MLForecast
    from mlforecast.lag_transforms import RollingMean
    from mlforecast.utils import PredictionIntervals

    lags = {"D": [1, 7, 14, 28], "W-FRI": [1, 2, 4, 13, 52]}.get(freq, [1, 2, 3, 12])
    win = {"D": (7, 28), "W-FRI": (4, 13)}.get(freq, (3, 12))
    # conformal intervals need 2 windows + 1 periods: very short (non-evaluated) series sit out
    sizes = df.groupby("unique_id")["y"].transform("size")
    df = df[sizes >= 2 * h + 1]
    t0 = time.monotonic()
    mlf = MLForecast(
        models={
            "LGBM": lgb.LGBMRegressor(
                n_estimators=400,
                learning_rate=0.05,
                num_leaves=63,
                objective="tweedie",
                n_jobs=2,
                verbose=-1,
                random_state=0,
            )
        },
        freq=freq,
        lags=lags,
        lag_transforms={1: [RollingMean(window_size=w) for w in win]},
        date_features=["dayofweek", "month"] if freq == "D" else ["month"],
    )
    mlf.fit(df, prediction_intervals=PredictionIntervals(n_windows=2, h=h))
    out = mlf.predict(h, level=[80, 95])
    secs = round(time.monotonic() - t0, 1)
    fc = out.rename(columns={"unique_id": "series_id", "ds": "date", "LGBM": "mean"})
    fc["mean"] = fc["mean"].clip(lower=0)
    log.info("%s: mlforecast done in %.0fs", name, secs)
    return score_row(
        scorer,
        data,
        "mlforecast:LightGBM (same lags)",
        fc,
        test,
        secs,
        "LGBM-lo-80",
        "LGBM-hi-80",
        "LGBM-lo-95",
        "LGBM-hi-95",
    )


def table(rows: list[dict]) -> str:
    cols = ["model", "WRMSSE", "RMSSE", "MASE", "WAPE", "bias_pct", "cov80", "cov95", "seconds"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        cells = [r["model"]] + [f"{r[c]:.3f}" if c not in ("bias_pct", "seconds") else f"{r[c]:.1f}" for c in cols[1:]]
        lines.append("| " + " | ".join(cells).replace("nan", "–") + " |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=["m5_tiny", "m5_weekly", "carparts"])
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--json", default=str(REPO / ".stockwise" / "bench" / "forecast_accuracy.json"))
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    for noisy in ("py4j", "numba", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    log = logging.getLogger("bench")
    scorer = load_scorer()
    report = {
        "machine": f"{platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "results": {},
    }
    for name in a.datasets:
        data = scorer.load_dataset(str(folder(name)))
        _, train, test, series = data
        test = test[test["series_id"].isin(series.loc[series["eval"].astype(bool), "series_id"].astype(str))]
        rows, champions = stockwise_rows(name, scorer, data, test, log)
        if not a.no_peers:
            rows += peer_rows(name, scorer, data, train, test, log)
        rows.sort(key=lambda r: r["WRMSSE"] if name.startswith("m5") else r["RMSSE"])
        report["results"][name] = {"rows": rows, "champions": champions}
        print(
            f"\n## {name} (holdout, h={HORIZON[name]})\n\n{table(rows)}\n\nchampions by segment: {champions}\n",
            flush=True,
        )
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps(report, indent=2, default=str))
    print(f"machine: {report['machine']}; JSON: {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
