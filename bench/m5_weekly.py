"""A weekly retail set derived from ../shared/data/m5_tiny, in the shared datasets' layout.

    .venv/bin/python bench/m5_weekly.py [--out DIR]

Walmart weeks (`wm_yr_wk`) run Saturday to Friday; each week is labelled by its Friday (pandas
`W-FRI`, as a retailer's fiscal week is). Units are summed over the week; covariates are the
week's mean sell price (NaN before the item was on sale) and its number of SNAP days. The
holdout is the last 13 complete weeks of train + test; the partial last week (2016-05-21/22) is
dropped. Season length 52; weights are unit sales of the last 13 training weeks (score.py has
no price column for this set). Written to `.stockwise/bench/data/m5_weekly/` by default.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("STOCKWISE_DATA", REPO.parent / "shared" / "data"))
OUT = REPO / ".stockwise" / "bench" / "data" / "m5_weekly"
HORIZON = 13
KEYS = ["series_id", "item_id", "store_id", "dept_id", "cat_id", "state_id"]


def derive(src: Path = DATA / "m5_tiny", out: Path = OUT) -> Path:
    daily = pd.concat(
        [pd.read_parquet(src / "train.parquet"), pd.read_parquet(src / "test.parquet")], ignore_index=True
    )
    # the holdout file has quantities only: its calendar and prices come from test_inputs
    inputs = pd.read_parquet(src / "test_inputs.parquet")[["series_id", "date", "wm_yr_wk", "snap", "sell_price"]]
    daily = daily.merge(inputs, on=["series_id", "date"], how="left", suffixes=("", "_in"))
    for c in ("wm_yr_wk", "snap", "sell_price"):
        daily[c] = daily[c].fillna(daily.pop(f"{c}_in")) if f"{c}_in" in daily else daily[c]
    static = daily[KEYS].drop_duplicates("series_id")
    daily["date"] = pd.to_datetime(daily["date"])
    daily["week_end"] = daily["date"] + pd.to_timedelta((4 - daily["date"].dt.dayofweek) % 7, unit="D")
    weekly = daily.groupby(["series_id", "week_end"], as_index=False).agg(
        qty=("qty", "sum"),
        days=("qty", "size"),
        sell_price=("sell_price", "mean"),
        snap_days=("snap", "sum"),
        wm_yr_wk=("wm_yr_wk", "max"),
    )
    weekly = weekly[weekly["days"] == 7].drop(columns="days")  # complete weeks only
    weekly = weekly.rename(columns={"week_end": "date"}).merge(static, on="series_id")
    last = weekly["date"].max()
    test_start = last - pd.Timedelta(weeks=HORIZON - 1)
    train, test = weekly[weekly["date"] < test_start], weekly[weekly["date"] >= test_start]
    out.mkdir(parents=True, exist_ok=True)
    cols = [*KEYS, "date", "qty", "sell_price", "snap_days", "wm_yr_wk"]
    train[cols].to_parquet(out / "train.parquet", index=False)
    test[["series_id", "item_id", "store_id", "date", "qty"]].to_parquet(out / "test.parquet", index=False)
    # known in advance: the SNAP calendar; prices only where the source has them (NaN after)
    test[[*KEYS, "date", "snap_days", "wm_yr_wk", "sell_price"]].to_parquet(out / "test_inputs.parquet", index=False)
    static.assign(eval=True).to_csv(out / "series.csv", index=False)
    (out / "items.csv").write_bytes((src / "items.csv").read_bytes())
    meta = {
        "name": "m5_weekly",
        "visibility": "VISIBLE (derived from m5_tiny by bench/m5_weekly.py)",
        "freq": "W-FRI",
        "season_length": 52,
        "horizon": HORIZON,
        "train_start": train["date"].min().date().isoformat(),
        "train_end": train["date"].max().date().isoformat(),
        "test_start": test["date"].min().date().isoformat(),
        "test_end": test["date"].max().date().isoformat(),
        "series_key": "series_id",
        "weights": "units (qty) of the last 13 training weeks",
        "weight_window": HORIZON,
        "n_series": int(static.shape[0]),
        "trim_leading_zeros": True,
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=2))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(OUT))
    a = ap.parse_args()
    out = derive(out=Path(a.out))
    meta = json.loads((out / "meta.json").read_text())
    print(
        f"{out}: {meta['n_series']} series, train {meta['train_start']}..{meta['train_end']}, "
        f"holdout {meta['test_start']}..{meta['test_end']} ({meta['horizon']} weeks, {meta['freq']})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
