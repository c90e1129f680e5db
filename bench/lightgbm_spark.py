"""LightGBM trained through Spark, partitioned by store, vs one global model in-process (M5 holdout).

    .venv/bin/python bench/lightgbm_spark.py [--partition-by location_id] [--master local[2]]

Three ways to train the same model family on the M5 subset's training window, each scored on
the official holdout with the reference scorer `score.py`:
- global: one model over all 280 series, in-process, LightGBM on every core (the default);
- partitioned, in-process: one model per store (10), fitted one after another, one thread each;
- partitioned, Spark: the same 10 models fitted in Spark tasks (`cogroup.applyInPandas`), one
  core per task, as on a cluster where each executor trains its partitions.
The partitioned runs must give identical forecasts; the Spark run's speed-up over the
sequential one is the scale-out, and the largest partition's training rows bound the memory a
worker needs. Run it alone: the timings share the machine's cores.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
from forecast_accuracy import DATA, load_scorer, score_row  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--partition-by", default="location_id", choices=("location_id", "category"))
    ap.add_argument("--master", default="local[2]")
    a = ap.parse_args()
    os.environ["STOCKWISE_SPARK_MASTER"] = a.master
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("py4j").setLevel(logging.WARNING)
    from stockwise_features.demand_panel import build_panel_pandas
    from stockwise_training.forecast.job import prepare_folder
    from stockwise_training.forecast.models import make
    from stockwise_training.forecast.panel import QCOLS, future_dates

    h = 28
    scorer = load_scorer()
    data = scorer.load_dataset(str(DATA / "m5_tiny"))
    _, _, test, series = data
    test = test[test["series_id"].isin(series.loc[series["eval"].astype(bool), "series_id"].astype(str))]
    pre = prepare_folder(DATA / "m5_tiny", REPO / "bench" / "mappings" / "m5_tiny.yaml", h, build_panel_pandas)
    m = pre.matrix
    sid = [f"{s}_{lo}" for s, lo in zip(m.keys["sku"], m.keys["location_id"], strict=True)]
    dates = future_dates(m.dates[-1], h, m.freq)
    runs = {
        "global, in-process (2 threads)": {"threads": 2},
        f"by {a.partition_by}, in-process (sequential, 1 thread each)": {
            "partition_by": a.partition_by,
            "spark": False,
        },
        f"by {a.partition_by}, Spark {a.master} (1 thread per task)": {"partition_by": a.partition_by},
    }
    rows, fcs = [], {}
    for label, params in runs.items():
        t0 = time.monotonic()
        model = make("lightgbm", horizon=h, season=7, stride=7, **params).fit(m, statics=pre.statics, exog=pre.exog)
        mean, q = model.predict(h)
        secs = round(time.monotonic() - t0, 1)
        fcs[label] = mean
        fc = pd.DataFrame(
            {"series_id": np.repeat(sid, h), "date": np.tile(dates.to_numpy(), len(sid)), "mean": mean.ravel()}
        )
        bounds: tuple = (None,) * 4  # the default model has no native quantiles (they come from the backtest)
        if q is not None:
            for j, c in enumerate(QCOLS):
                fc[c] = q[..., j].ravel()
            bounds = ("p10", "p90", "p2_5", "p97_5")
        row = score_row(scorer, data, label, fc, test, secs, *bounds)
        parts = getattr(model, "models", {"all": model})
        row["models"] = len(parts)
        row["max_rows"] = max(md.n_train_rows for md in parts.values())
        rows.append(row)
        logging.info("%s: WRMSSE %.4f in %.0fs", label, row["WRMSSE"], secs)
    labels = list(runs)
    same = np.allclose(fcs[labels[1]], fcs[labels[2]])
    print(f"\n## LightGBM through Spark, M5 subset holdout (h={h}); {platform.node()}, {os.cpu_count()} cores\n")
    print("| training | models | largest training set (rows) | WRMSSE | RMSSE | cov80 | cov95 | seconds |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['model']} | {r['models']} | {r['max_rows']:,} | {r['WRMSSE']:.3f} | {r['RMSSE']:.3f} | "
            f"{r['cov80']:.3f} | {r['cov95']:.3f} | {r['seconds']:.1f} |".replace("nan", "–")
        )
    speed = rows[1]["seconds"] / rows[2]["seconds"]
    print(f"\nSpark vs sequential partitions: {speed:.2f}x faster; identical forecasts: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
