"""Compare LightGBM settings on the backtest cutoffs *inside* the training window (never the holdout).

    .venv/bin/python bench/forecast_tuning.py --dataset m5_tiny --variants base blend groups
    .venv/bin/python bench/forecast_tuning.py --dataset carparts --variants base groups

This is how the defaults of `GlobalLGBM` were chosen: each variant is fitted (mean model only,
no quantiles) at the same rolling-origin cutoffs that `stockwise backtest` uses to pick a
champion, and scored on the periods that follow each cutoff, all before the official holdout.
The table prints the WRMSSE / mean RMSSE per cutoff and their mean. The holdout is read only by
`bench/forecast_accuracy.py`, once, for the settings chosen here.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
from forecast_accuracy import DATA, HORIZON  # noqa: E402


def _v(**kw) -> dict:
    """A variant as it was compared: on top of the step before price features (kept for the record)."""
    return {"price_features": False, **kw}


# the defaults (LGBMParams) are "blend_price": L2 + Tweedie mean models, price features
VARIANTS: dict[str, dict] = {
    "base": _v(blend=()),
    "tweedie": _v(objective="tweedie", blend=()),
    "blend": _v(),
    "groups": _v(group_features=True, blend=()),
    "groups_blend": _v(group_features=True),
    "origins": _v(max_origins=250, blend=()),
    "blend_origins": _v(max_origins=250),
    "blend_bag": _v(blend=("tweedie", "regression", "tweedie")),
    "blend_p11": _v(tweedie_power=1.1),
    "blend_slow": _v(learning_rate=0.02, rounds=1200),
    "blend_leaves127": _v(num_leaves=127),
    "blend_leaf100": _v(min_data_in_leaf=100),
    "blend_origins52": _v(max_origins=52),
    "blend_origins78": _v(max_origins=78),
    "blend_price": {},
    "weights_wrmsse": {"sample_weights": "wrmsse"},
    "weights_mixed": {"sample_weights": "mixed"},
    "recency": {"recency_features": True},
    # cost: the same mean models in fewer, larger steps and coarser histograms (issue #14)
    "l2_price": {"blend": ()},
    "fast_lr": {"rounds": 300, "learning_rate": 0.08},
    "fast_bin": {"extra": {"max_bin": 63}},
    "fast": {"rounds": 300, "learning_rate": 0.08, "extra": {"max_bin": 63}},
    "fast_origins": {"rounds": 300, "learning_rate": 0.08, "extra": {"max_bin": 63}, "max_origins": 52},
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="m5_tiny", choices=sorted(HORIZON))
    ap.add_argument("--variants", nargs="+", default=["base", "groups", "blend", "groups_blend"])
    ap.add_argument("--cutoffs", type=int, default=3)
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("py4j").setLevel(logging.WARNING)
    from stockwise_features.demand_panel import build_panel_pandas
    from stockwise_training.forecast import metrics
    from stockwise_training.forecast.backtest import cutoff_dates
    from stockwise_training.forecast.job import prepare_folder
    from stockwise_training.forecast.models import make
    from stockwise_training.forecast.panel import QUANTILES

    h = HORIZON[a.dataset]
    pre = prepare_folder(DATA / a.dataset, REPO / "bench" / "mappings" / f"{a.dataset}.yaml", h, build_panel_pandas)
    m, cfg = pre.matrix, pre.cfg
    cuts = cutoff_dates(m, h, a.cutoffs, cfg.season)
    rows = []
    for name in a.variants:
        params = {
            "horizon": h,
            "season": cfg.season,
            "stride": 7 if m.freq == "D" else 1,
            "quantiles": (),
            **VARIANTS[name],
        }
        for cut in cuts:
            train = m.upto(cut)
            T = len(train.dates)
            t0 = time.monotonic()
            model = make("lightgbm", **params).fit(train, statics=pre.statics, exog=pre.exog)
            mean, _ = model.predict(h)
            secs = time.monotonic() - t0
            w = metrics.weights(train.observed, pre.price_raw[:, :T], cfg.weight_window)
            res, _ = metrics.evaluate(m.observed[:, T : T + h], mean, train.observed, w, None, QUANTILES)
            rows.append(
                {
                    "variant": name,
                    "cutoff": cut.date().isoformat(),
                    "WRMSSE": res["WRMSSE"],
                    "RMSSE": res["RMSSE_mean"],
                    "bias_pct": res["bias_pct"],
                    "seconds": secs,
                }
            )
            logging.info(
                "%s @ %s: WRMSSE %.4f RMSSE %.4f (%.0fs)", name, cut.date(), res["WRMSSE"], res["RMSSE_mean"], secs
            )
    df = pd.DataFrame(rows)
    wide = df.pivot(index="variant", columns="cutoff", values="WRMSSE")
    wide["mean WRMSSE"] = wide.mean(axis=1)
    agg = df.groupby("variant")[["RMSSE", "bias_pct", "seconds"]].mean()
    out = wide.join(agg.rename(columns={"RMSSE": "mean RMSSE", "seconds": "s/fit"})).loc[a.variants]
    print(f"\n## {a.dataset}: LightGBM variants on the backtest cutoffs (h={h})\n")
    print(out.to_markdown(floatfmt=".4f"))
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
