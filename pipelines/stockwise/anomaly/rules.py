"""Rule detectors over the daily movement table (`features/movement_daily`).

Each detector is a pure function returning alerts: type, sku, location, the day it fires, the
window of days its cause lies in, the units at stake, a score and a sentence saying why.

- book_mismatch: the book moved by more than its movements explain (on hand today != yesterday +
  receipts - sales +/- adjustments...);
- negative_stock: the book shows fewer than zero units;
- duplicate_receipt: the same PO line (ref, sku, location) received again;
- fat_finger: a manual adjustment far larger than the series' usual ones and a multiple of ten
  (a quantity keyed x10 or x100);
- adjustment_spike: recorded shrink or a manual adjustment beyond a robust z-score of 6 against
  the series' own (not already a fat finger);
- phantom_stock: the book shows stock but nothing sells for a run of days that is improbable at
  the item's rate (negative-binomial tail probability below `phantom_alpha`);
- count discrepancies: what a physical count corrects, less what the alerts above already
  explain, is an unexplained loss (shrinkage; phantom stock when it matches a zero-sales run's
  book) or gain (an adjustment keyed too low, a receipt not booked: adjustment_error);
- demand_spike: a day's sales beyond the item's negative-binomial 1-in-a-million level, not on
  promotion.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

KEYS = ["sku", "location_id"]
ALERT_COLUMNS = [
    "type",
    "sku",
    "location_id",
    "date",
    "window_start",
    "window_end",
    "magnitude",
    "score",
    "reason",
    "source",
]
TYPES = (
    "book_mismatch",
    "negative_stock",
    "duplicate_receipt",
    "fat_finger",
    "adjustment_spike",
    "phantom_stock",
    "shrinkage",
    "adjustment_error",
    "demand_spike",
)


@dataclass(frozen=True)
class RuleParams:
    fat_finger_ratio: float = 3.0  # times the series' median manual adjustment
    fat_finger_min: float = 10.0
    phantom_alpha: float = 1e-5  # tail probability of the zero-sales run
    phantom_min_days: int = 3
    rate_days: int = 28  # days of sales behind an item's rate
    count_tolerance: float = 0.15  # share of an explained correction that may differ
    shrink_max: float = 3.0  # units: a larger unexplained loss at a count is phantom stock
    spike_alpha: float = 1e-6
    spike_z: float = 6.0  # robust z of an adjustment against the series' own
    spike_min_units: float = 5.0


DEFAULT_RULES = RuleParams()


@dataclass(frozen=True)
class Pooled:
    """The assortment's usual manual adjustment and receipt: the yardstick of a series with too few
    of its own. Taken over every series scored, so that scoring the series in batches gives the
    alerts scoring them all at once gives (`Pooled.of` over the batches, then each batch with it).
    A negative figure means "from the frame being scored"."""

    plain_adjustment: float = -1.0  # median largest manual adjustment that is not a round ten (fat_finger)
    adjustment_mad: float = -1.0  # median absolute deviation of adjustments + shrink (adjustment_spike)
    adjustment: float = -1.0  # median largest manual adjustment (the forest's adj_ratio)
    receipt: float = -1.0  # median receipt (the forest's receipt_rel)

    @classmethod
    def of(cls, frames: Iterable[pd.DataFrame]) -> Pooled:
        """From daily movement frames (only their adjustment and receipt columns are read)."""
        plain, nz, adj, rec = [], [], [], []
        for d in frames:
            big = d["max_abs_adjustment"][d["n_adjustments"] > 0]
            adj.append(big.to_numpy(dtype=float))
            plain.append(big[np.mod(big, 10) != 0].to_numpy(dtype=float))
            x = (d["adjustments"] + d["shrink"]).to_numpy(dtype=float)
            nz.append(x[(x != 0) & ~np.isnan(x)])
            r = d["receipts"].to_numpy(dtype=float)
            rec.append(r[r > 0])

        def median(parts: list[np.ndarray]) -> float:
            v = np.concatenate(parts) if parts else np.array([])
            v = v[~np.isnan(v)]
            return float(np.median(v)) if len(v) else 1.0

        all_nz = np.concatenate(nz) if nz else np.array([])
        mad = median([np.abs(all_nz - np.median(all_nz))]) if len(all_nz) else 1.0
        return cls(median(plain), mad, median(adj), median(rec))

    def params(self) -> dict[str, float]:
        """As the anomaly pyfunc's predict params."""
        return {f"pooled_{k}": float(v) for k, v in asdict(self).items()}

    @classmethod
    def from_params(cls, params: dict | None) -> Pooled:
        return cls(**{k: float((params or {}).get(f"pooled_{k}", -1.0)) for k in asdict(cls())})

    def filled(self, d: pd.DataFrame) -> Pooled:
        """Every figure given, those not given from `d`."""
        if min(asdict(self).values()) >= 0:
            return self
        own = Pooled.of([d])
        return Pooled(**{k: v if v >= 0 else getattr(own, k) for k, v in asdict(self).items()})


FROM_DATA = Pooled()  # every pooled figure from the frame being scored


def _alerts(df: pd.DataFrame, type_: str, start, end, magnitude, score, reason, source: str = "rule") -> pd.DataFrame:
    if not len(df):
        return pd.DataFrame(columns=ALERT_COLUMNS)
    return pd.DataFrame(
        {
            "type": type_,
            "sku": df["sku"].to_numpy(),
            "location_id": df["location_id"].to_numpy(),
            "date": pd.to_datetime(df["date"]).to_numpy(),
            "window_start": pd.to_datetime(start).to_numpy(),
            "window_end": pd.to_datetime(end).to_numpy(),
            "magnitude": np.asarray(magnitude, dtype=float),
            "score": np.asarray(score, dtype=float),
            "reason": list(reason),
            "source": f"{source}:{type_}",
        }
    )


def prepare(daily: pd.DataFrame) -> pd.DataFrame:
    d = daily.copy()
    d["date"] = pd.to_datetime(d["date"])
    return d.sort_values(KEYS + ["date"]).reset_index(drop=True)


def book_mismatch(d: pd.DataFrame) -> pd.DataFrame:
    x = d[d["residual"].abs() >= 0.5]
    return _alerts(
        x,
        "book_mismatch",
        x["date"],
        x["date"],
        x["residual"].abs(),
        x["residual"].abs(),
        [
            f"book {r.on_hand:g} but yesterday {r.prev_on_hand:g} + movements {r.net_movement:+g} "
            f"= {r.prev_on_hand + r.net_movement:g}: {r.residual:+g} units no movement explains"
            for r in x.itertuples()
        ],
    )


def negative_stock(d: pd.DataFrame) -> pd.DataFrame:
    x = d[d["on_hand"] < 0]
    # one alert per run of negative days
    first = x[(x.groupby(KEYS)["date"].diff() != pd.Timedelta(days=1))]
    return _alerts(
        first,
        "negative_stock",
        first["date"],
        first["date"],
        -first["on_hand"],
        -first["on_hand"],
        [f"book shows {r.on_hand:g} units: fewer than none" for r in first.itertuples()],
    )


def duplicate_receipt(d: pd.DataFrame) -> pd.DataFrame:
    x = d[d["dup_receipt_lines"] > 0]
    return _alerts(
        x,
        "duplicate_receipt",
        x["date"],
        x["date"],
        x["dup_receipt_qty"],
        x["dup_receipt_qty"],
        [
            f"PO line {r.dup_refs} received again ({r.dup_receipt_qty:g} units): a receipt keyed twice"
            for r in x.itertuples()
        ],
    )


def fat_finger(d: pd.DataFrame, p: RuleParams, pool: Pooled = FROM_DATA) -> pd.DataFrame:
    pool = pool.filled(d)
    adj = d[d["n_adjustments"] > 0]
    if not len(adj):
        return pd.DataFrame(columns=ALERT_COLUMNS)
    big = adj["max_abs_adjustment"]
    # the usual size of an adjustment: from those that are not round tens (the suspects)
    plain = big.where(np.mod(big, 10) != 0)
    typical = plain.groupby([adj[k] for k in KEYS]).transform("median")
    n = plain.groupby([adj[k] for k in KEYS]).transform("count")
    # the series' own usual size when it has several adjustments, else the pooled one, at least 1
    usual = np.maximum(np.where(n >= 5, typical, pool.plain_adjustment), 1.0)
    hit = (big >= p.fat_finger_min) & (big >= p.fat_finger_ratio * usual) & (np.mod(big, 10) == 0)
    x = adj[hit]
    u = usual[hit.to_numpy()]
    return _alerts(
        x,
        "fat_finger",
        x["date"],
        x["date"],
        x["max_abs_adjustment"],
        x["max_abs_adjustment"] / u,
        [
            f"manual adjustment of {r.adjustments:+g} units, {r.max_abs_adjustment / uu:.0f}x the usual "
            f"{uu:g}, a round multiple of ten: keyed x10 or x100?"
            for r, uu in zip(x.itertuples(), u, strict=True)
        ],
    )


def adjustment_spikes(d: pd.DataFrame, p: RuleParams, pool: Pooled = FROM_DATA) -> pd.DataFrame:
    """Recorded shrink and manual adjustments far outside the series' own (robust z-score over its
    non-zero days: median and MAD, the pooled MAD where the series' is zero)."""
    pool = pool.filled(d)
    x = d["adjustments"] + d["shrink"]
    nz = x.where(x != 0)
    grp = [d[k] for k in KEYS]
    med = nz.groupby(grp).transform("median")
    mad = (nz - med).abs().groupby(grp).transform("median")
    scale = 1.4826 * np.where(mad.fillna(0) > 0, mad, max(pool.adjustment_mad, 1.0))
    z = (x - med.fillna(0)) / scale
    hit = (x != 0) & (z.abs() > p.spike_z) & (x.abs() >= p.spike_min_units)
    y = d[hit]
    zz = z[hit].to_numpy()
    return _alerts(
        y,
        "adjustment_spike",
        y["date"],
        y["date"],
        (y["adjustments"] + y["shrink"]).abs(),
        np.abs(zz),
        [
            f"{r.adjustments + r.shrink:+g} units adjusted or written off, robust z {v:+.1f} against this "
            "item's own adjustments: check the reason"
            for r, v in zip(y.itertuples(), zz, strict=True)
        ],
    )


def _rate(d: pd.DataFrame, days: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean daily sales and a negative-binomial size over the `days` before each row, on days with
    stock on the book (shifted: today's sales are not in today's rate)."""
    stocked = d["on_hand"].fillna(0) > 0
    s = d["sold"].where(stocked)
    grp = [d[k] for k in KEYS]
    mean = s.groupby(grp).transform(lambda x: x.shift(1).rolling(days, min_periods=7).mean())
    var = s.groupby(grp).transform(lambda x: x.shift(1).rolling(days, min_periods=7).var())
    m = mean.to_numpy(dtype=float)
    v = var.to_numpy(dtype=float)
    size = np.where(v > m * 1.05, m**2 / np.maximum(v - m, 1e-9), np.inf)
    return m, size


def phantom_runs(d: pd.DataFrame, p: RuleParams) -> pd.DataFrame:
    """Zero-sales runs with stock on the book, tested as they grow; one alert per run when its
    probability at the item's rate falls below `phantom_alpha`."""
    m, size = _rate(d, p.rate_days)
    quiet = (d["sold"] <= 0) & (d["on_hand"].fillna(0) > 0)
    new_run = quiet & ~(quiet.groupby([d[k] for k in KEYS]).shift(1, fill_value=False))
    run_id = new_run.cumsum().where(quiet)
    start_rate = pd.Series(np.where(new_run, m, np.nan)).groupby(run_id).transform("first")
    start_size = pd.Series(np.where(new_run, size, np.nan)).groupby(run_id).transform("first")
    k = quiet.groupby(run_id).cumcount() + 1
    lam = start_rate.to_numpy(dtype=float)
    r = start_size.to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_p0 = np.where(np.isinf(r), -lam, r * (np.log(r) - np.log(r + lam)))  # log P(0 sales in a day)
    log_run = k.to_numpy() * log_p0
    fire = (
        quiet.to_numpy()
        & np.isfinite(log_run)
        & (log_run < np.log(p.phantom_alpha))
        & (k.to_numpy() >= p.phantom_min_days)
    )
    first = pd.Series(fire).groupby(run_id).cumsum() == 1
    idx = np.flatnonzero(fire & first.to_numpy())
    x = d.iloc[idx]
    # the book was last verified at the series' previous count: the cause lies since then
    counted = d["date"].where(d["n_counts"] > 0)
    last_count = counted.groupby([d[k] for k in KEYS]).ffill()
    first_day = d.groupby(KEYS)["date"].transform("min")
    start = last_count.fillna(first_day).to_numpy()[idx]
    a = _alerts(
        x,
        "phantom_stock",
        start,
        x["date"],
        x["on_hand"],
        -log_run[idx] / np.log(10),
        [
            f"book shows {r.on_hand:g} units but nothing sold for {int(kk)} days at {ll:.2g}/day "
            f"(chance {np.exp(lr):.1e}): the shelf may be empty"
            for r, kk, ll, lr in zip(x.itertuples(), k.to_numpy()[idx], lam[idx], log_run[idx], strict=True)
        ],
    )
    # the last few units on the book not selling: lost without a movement, not a phantom delivery
    small = a["magnitude"].to_numpy() <= p.shrink_max
    a.loc[small, "type"] = "shrinkage"
    a.loc[small, "source"] = "rule:shrinkage"
    a.loc[small, "reason"] = a.loc[small, "reason"].str.replace("the shelf may be empty", "lost without a movement?")
    return a


def count_discrepancies(d: pd.DataFrame, found: pd.DataFrame, p: RuleParams) -> pd.DataFrame:
    """What each physical count corrects, less what earlier alerts explain, typed by its cause.

    Fat fingers and duplicate receipts since the previous count explain their effect on the book.
    What is left: a loss matching an open phantom-stock alert confirms it; with a manual
    adjustment in the window the gap is that adjustment keyed wrong (adjustment_error); else a
    loss of up to `shrink_max` units is shrinkage, a larger one phantom stock the zero-sales test
    had not caught, and a gain is an adjustment keyed too low or a receipt not booked."""
    counts = d[d["n_counts"] > 0]
    if not len(counts):
        return pd.DataFrame(columns=ALERT_COLUMNS)
    prev = counts.groupby(KEYS)["date"].shift(1)
    first_day = d.groupby(KEYS)["date"].transform("min").loc[counts.index]
    start = (prev.fillna(first_day - pd.Timedelta(days=1)) + pd.Timedelta(days=1)).to_numpy()
    adj = d[d["n_adjustments"] > 0][KEYS + ["date", "adjustments"]]
    found = found.assign(date=pd.to_datetime(found["date"]))
    f = found[found["type"].isin(["fat_finger", "duplicate_receipt", "phantom_stock", "shrinkage"])].merge(
        adj, on=KEYS + ["date"], how="left"
    )
    by_series = {k: g for k, g in f.groupby(KEYS)} if len(f) else {}
    adj_series = (
        {
            k: g
            for k, g in adj.merge(
                f[f["type"] == "fat_finger"][KEYS + ["date"]].assign(ff=True), on=KEYS + ["date"], how="left"
            )
            .query("ff != True")
            .groupby(KEYS)
        }
        if len(adj)
        else {}
    )
    out: dict[str, tuple[list, list, list, list]] = {t: ([], [], [], []) for t in COUNT_WORDS}
    for (i, r), s0 in zip(counts.iterrows(), start, strict=True):
        key = (r["sku"], r["location_id"])
        kind, resid, explained = _classify_count(r, s0, by_series.get(key), adj_series.get(key), p)
        if kind:
            for acc, v in zip(out[kind], (i, s0, resid, explained), strict=True):
                acc.append(v)
    frames = []
    for t, (idx, s0, res, ex) in out.items():
        if not idx:
            continue
        x = counts.loc[idx]
        gap = np.asarray(res)
        frames.append(
            _alerts(
                x,
                t,
                np.asarray(s0, dtype="datetime64[ns]"),
                x["date"],
                np.abs(gap),
                np.abs(gap),
                [
                    f"count corrected the book by {r.count_qty:+g}"
                    + (f" ({e:+g} explained by earlier alerts)" if e else "")
                    + ": "
                    + COUNT_WORDS[t].format(u=abs(rr))
                    + f" since {pd.Timestamp(ss):%Y-%m-%d}"
                    for r, rr, e, ss in zip(x.itertuples(), gap, ex, s0, strict=True)
                ],
            )
        )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=ALERT_COLUMNS)


COUNT_WORDS = {
    "shrinkage": "{u:g} units lost without a movement (shrinkage)",
    "adjustment_error": "a {u:g}-unit gap after a manual adjustment or an unbooked receipt: keyed wrong?",
    "phantom_stock": "{u:g} units on the book were not on the shelf (phantom stock)",
}


def _classify_count(
    r, s0, alerts: pd.DataFrame | None, manual_adj: pd.DataFrame | None, p: RuleParams
) -> tuple[str | None, float, float]:
    """One count's unexplained correction and its type (None: explained, or confirms an alert)."""
    inw = alerts[(alerts["date"] >= s0) & (alerts["date"] <= r["date"])] if alerts is not None else None
    explained = 0.0
    phantom = 0.0
    if inw is not None and len(inw):
        ff = inw[inw["type"] == "fat_finger"]
        explained -= float(ff["adjustments"].fillna(0).sum()) * 0.9  # the x10 part the count reverses
        explained -= float(inw.loc[inw["type"] == "duplicate_receipt", "magnitude"].sum())
        early = inw["type"].isin(["phantom_stock", "shrinkage"])  # zero-sales alerts before the count
        phantom = float(inw.loc[early, "magnitude"].max()) if early.any() else 0.0
    resid = r["count_qty"] - explained
    if abs(resid) <= max(0.5, p.count_tolerance * abs(explained)):
        return None, resid, explained
    if phantom and resid <= -0.5 * phantom:
        return None, resid, explained  # the count confirms the phantom stock already alerted
    manual = manual_adj is not None and ((manual_adj["date"] >= s0) & (manual_adj["date"] <= r["date"])).any()
    if resid > 0:
        return "adjustment_error", resid, explained  # units the book did not know of
    if -resid > p.shrink_max:
        return ("adjustment_error" if manual and -resid <= 3 * p.shrink_max else "phantom_stock"), resid, explained
    # a small loss: shrinkage, or an adjustment keyed a little short (the two look alike)
    return "shrinkage", resid, explained


def demand_spikes(d: pd.DataFrame, promo: pd.DataFrame | None, p: RuleParams) -> pd.DataFrame:
    from scipy.stats import nbinom, poisson

    m, size = _rate(d, p.rate_days)
    ok = np.isfinite(m) & (m > 0)
    lim = np.full(len(d), np.inf)
    pois = ok & np.isinf(size)
    lim[pois] = poisson.isf(p.spike_alpha, m[pois])
    nb = ok & ~np.isinf(size)
    lim[nb] = nbinom.isf(p.spike_alpha, size[nb], size[nb] / (size[nb] + m[nb]))
    hit = (d["sold"].to_numpy() > lim) & (d["sold"].to_numpy() >= p.spike_min_units)
    x = d[hit]
    if promo is not None and len(x):
        pr = promo[promo["on_promo"].astype(bool)][KEYS + ["date"]].assign(promo=True)
        pr["date"] = pd.to_datetime(pr["date"])
        x = x.merge(pr, on=KEYS + ["date"], how="left")
        x = x[x["promo"].isna()]
    mm = m[hit][: len(x)] if promo is None else pd.Series(m, index=d.index)[hit].to_numpy()[: len(x)]
    return _alerts(
        x,
        "demand_spike",
        x["date"],
        x["date"],
        x["sold"],
        x["sold"],
        [
            f"sold {r.sold:g} in a day against {mu:.2g}/day, not on promotion: an event, a bulk buyer or a keying error"
            for r, mu in zip(x.itertuples(), mm, strict=False)
        ],
    )


def explained(alerts: pd.DataFrame, causes: pd.DataFrame, kinds: tuple[str, ...]) -> np.ndarray:
    """Which `alerts` follow an earlier cause alert (of `kinds`) on the same series inside their window."""
    c = causes[causes["type"].isin(kinds)][KEYS + ["date"]].rename(columns={"date": "cause_date"})
    if not len(alerts) or not len(c):
        return np.zeros(len(alerts), dtype=bool)
    a = alerts.reset_index(drop=True).assign(aid=lambda x: np.arange(len(x)))
    j = a.merge(c, on=KEYS)
    hit = (j["cause_date"] >= j["window_start"]) & (j["cause_date"] <= j["date"])
    out = np.zeros(len(a), dtype=bool)
    out[j.loc[hit, "aid"].to_numpy()] = True
    return out


def detect(
    daily: pd.DataFrame, promo: pd.DataFrame | None = None, p: RuleParams = RuleParams(), pool: Pooled = FROM_DATA
) -> pd.DataFrame:
    """Every rule's alerts over the daily movement table, sorted by day.

    Symptoms of a cause already alerted are not alerted again: a zero-sales run or a negative
    book on a series whose book an earlier duplicate receipt or fat finger put wrong. `pool`: the
    assortment's usual adjustment (from `daily` where not given)."""
    d = prepare(daily)
    pool = pool.filled(d)
    found_causes = [x for x in (duplicate_receipt(d), fat_finger(d, p, pool)) if len(x)]
    causes = pd.concat(found_causes, ignore_index=True) if found_causes else pd.DataFrame(columns=ALERT_COLUMNS)
    ph = phantom_runs(d, p)
    ph = ph[~explained(ph, causes, ("duplicate_receipt", "fat_finger"))] if len(causes) else ph
    ph = ph.reset_index(drop=True)
    neg = negative_stock(d)
    neg = neg.assign(window_start=neg["date"] - pd.Timedelta(days=90))
    neg = neg[~explained(neg, causes, ("fat_finger", "duplicate_receipt"))] if len(causes) else neg
    spikes = adjustment_spikes(d, p, pool)
    if len(spikes) and len(causes):  # a fat finger already says it
        ff = causes[causes["type"] == "fat_finger"][KEYS + ["date"]].assign(ff=True)
        spikes = spikes.merge(ff, on=KEYS + ["date"], how="left")
        spikes = spikes[spikes["ff"].isna()].drop(columns="ff")
    parts = [book_mismatch(d), neg, causes, ph, spikes]
    found = (
        pd.concat([x for x in parts if len(x)], ignore_index=True)
        if any(len(x) for x in parts)
        else pd.DataFrame(columns=ALERT_COLUMNS)
    )
    if promo is None and "on_promo" in d:
        promo = d[["date", *KEYS, "on_promo"]]
    more = [count_discrepancies(d, found, p), demand_spikes(d, promo, p)]
    frames = [x for x in [found, *more] if len(x)]
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=ALERT_COLUMNS)
    out["date"] = pd.to_datetime(out["date"])
    return out.sort_values(["date", "type", "sku", "location_id"]).reset_index(drop=True)[ALERT_COLUMNS]
