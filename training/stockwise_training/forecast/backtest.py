"""Rolling-origin backtests, interval calibration and the choice of a champion per segment.

Cutoffs step back one horizon at a time from the end of the training data; each candidate is
fitted on the data up to a cutoff only (the matrix is cut there, so nothing after it can leak in)
and scored on the following `horizon` periods. Models without native quantiles get intervals
from their own backtest errors: per segment and step, quantiles of the error divided by the
series' recent level, calibrated on the earlier cutoffs and applied to later ones. Every
model's intervals, native or calibrated, then get width factors per segment fitted on the
earlier cutoffs' coverage (`fit_widths`).
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from stockwise import bars, frequency
from stockwise_training.forecast import metrics
from stockwise_training.forecast.models import make
from stockwise_training.forecast.panel import QUANTILES, Matrix, abc_xyz, demand_classes

log = logging.getLogger(__name__)


@dataclass
class BacktestConfig:
    horizon: int = 28
    cutoffs: int = 3
    season: int = 7
    weight_window: int = 28
    candidates: tuple[str, ...] = (
        "seasonal_naive",
        "moving_average",
        "shaped_average",
        "tsb",
        "croston_sba",
        "cold_start",
        "lightgbm",
        "ensemble",
    )
    # an ensemble averages its members' means and quantiles (members must be candidates too)
    ensemble: tuple[str, ...] = ("lightgbm", "shaped_average")
    model_params: dict[str, dict] = field(default_factory=dict)
    selection_metric: str = "WRMSSE"
    # LightGBM fits of the cutoffs (and the final one) made this many at a time, its `threads`
    # shared between them: two one-thread fits do 12% more rounds a second than one two-thread
    # fit on 2 cores (each fit holds its own feature matrix: memory grows in proportion)
    concurrent_fits: int = 2
    # ... but only fits of at most this many training rows (series x horizon x origins): each
    # concurrent fit holds its own feature matrix, and on the 1,000-series demo (2.4M rows a
    # fit) two at once took the training task's peak from 3.6 to 5.5 GB
    concurrent_rows: int = 1_500_000


@dataclass
class BacktestResult:
    scores: pd.DataFrame  # model x cutoff x segment -> metrics
    per_series: pd.DataFrame  # model x cutoff x series -> rmsse, mase
    champions: dict[str, str]  # segment -> model
    segments: pd.Series  # series index -> segment
    calibration: dict[str, np.ndarray]  # model -> [segment-code, step, quantile] scaled error quantiles
    seconds: dict[str, float]
    # model -> [segment-code, interval] width factors for its intervals, native or calibrated (see fit_widths)
    widths: dict[str, np.ndarray] = field(default_factory=dict)
    last_cutoff: dict[str, tuple[np.ndarray, np.ndarray | None]] = field(default_factory=dict)  # model -> (mean, q)
    # (start, end) of the LightGBM fits made ahead, the final one's added when it ends
    fit_spans: list[tuple[float, float]] = field(default_factory=list)


def cutoff_dates(m: Matrix, horizon: int, n: int, season: int = 7) -> list[pd.Timestamp]:
    """`n` cutoffs, the last one a horizon before the end, one horizon apart where history allows.

    On short histories (36 months of monthly data with a 12-month horizon) the cutoffs are
    packed closer, keeping at least one and a half seasons of training before the first.
    """
    T = len(m.dates)
    last = T - 1 - horizon
    min_train = int(np.ceil(1.5 * season))
    step = horizon if n <= 1 else max(1, min(horizon, (last - (min_train - 1)) // (n - 1)))
    idx = [last - step * j for j in range(n - 1, -1, -1)]
    if idx[0] < 1:
        raise ValueError(f"{T} periods are too few for {n} backtest cutoffs with horizon {horizon}")
    return [m.dates[i] for i in idx]


def _level(y: np.ndarray, window: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lv = np.nanmean(y[:, -window:], axis=1)
    return np.maximum(np.nan_to_num(lv, nan=0.0), 0.05)


def fit_predict(
    name: str, m: Matrix, horizon: int, cfg: BacktestConfig, statics=None, exog=None, cache: dict | None = None
):
    """Fit candidate `name` on `m` and forecast; `cache` reuses fits within one cutoff."""
    if cache is not None and name in cache:
        if isinstance(cache[name], Future):  # fitted ahead, in another thread (see prefit)
            cache[name] = cache[name].result()
        return cache[name]
    if name == "ensemble":
        parts = [fit_predict(n, m, horizon, cfg, statics, exog, cache) for n in cfg.ensemble]
        mean = np.mean([p[1] for p in parts], axis=0)
        qs = [p[2] for p in parts]
        q = None if any(x is None for x in qs) else np.sort(np.mean(qs, axis=0), axis=-1)
        out = ({n: p[0] for n, p in zip(cfg.ensemble, parts, strict=True)}, mean, q)
        if cache is not None:
            cache[name] = out
        return out
    params = dict(cfg.model_params.get(name, {}))
    if name in ("seasonal_naive", "shaped_average"):
        params.setdefault("season", cfg.season)
    if name in ("moving_average", "shaped_average"):
        params.setdefault("window", frequency.parse(m.freq).recent)  # 4 weeks of days, or one season
    if name == "lightgbm":
        params.setdefault("horizon", horizon)
        params.setdefault("season", cfg.season)
        params.setdefault("stride", frequency.parse(m.freq).stride)
        model = make(name, **params).fit(m, statics=statics, exog=exog)
    elif name == "cold_start":
        params.setdefault("season", cfg.season)
        model = make(name, **params).fit(m, statics=statics)
    else:
        model = make(name, **params).fit(m)
    mean, q = model.predict(horizon)
    if hasattr(model, "slim"):  # its training matrices are no longer needed: the fits of every
        model.slim()  # cutoff stay in the caches until the backtest ends
    if cache is not None:
        cache[name] = (model, mean, q)
    return model, mean, q


def prefit(
    windows: list[Matrix], horizon: int, cfg: BacktestConfig, statics=None, exog=None, spans: list | None = None
) -> list[dict[str, Future]]:
    """Start the LightGBM fit of each training window, `cfg.concurrent_fits` at a time, and
    return one cache per window for `fit_predict` (the fits as futures: asking waits for one).

    The fits are the backtest's cost; the other candidates fit in a second each, meanwhile.
    The pool's threads are left to finish when the caller no longer waits (a fit nobody asks
    for, e.g. the final one when LightGBM wins no segment, still ends by itself)."""
    workers = max(1, min(cfg.concurrent_fits, len(windows), os.cpu_count() or 1))
    needed = "lightgbm" in cfg.candidates or ("ensemble" in cfg.candidates and "lightgbm" in cfg.ensemble)
    params = cfg.model_params.get("lightgbm", {})
    from stockwise_training.forecast.models.lgbm import LGBMParams

    origins = int(params.get("max_origins", LGBMParams.max_origins))
    rows = len(windows[-1].keys) * horizon * min(origins, len(windows[-1].dates)) if windows else 0
    if rows > cfg.concurrent_rows:
        log.info("lightgbm: fits of about %s rows, one at a time (memory)", f"{rows:,}")
        workers = 1
    if workers < 2 or not needed or params.get("partition_by"):  # partitioned: Spark tasks are the parallelism
        return [{} for _ in windows]
    threads = int(params.get("threads", LGBMParams.threads))
    # the threads shared within each group of `workers` fits; a last fit without a partner takes them all
    each = [max(1, threads // workers)] * len(windows)
    if len(windows) % workers:
        each[-(len(windows) % workers) :] = [threads] * (len(windows) % workers)
    pool = ThreadPoolExecutor(workers, thread_name_prefix="lightgbm")

    def config(n: int) -> BacktestConfig:
        return replace(cfg, model_params={**cfg.model_params, "lightgbm": {**params, "threads": n}})

    caches = [
        {"lightgbm": pool.submit(_fit_one, w, horizon, config(n), statics, exog, spans)}
        for w, n in zip(windows, each, strict=True)
    ]
    pool.shutdown(wait=False)
    return caches


def _fit_one(m: Matrix, horizon: int, cfg: BacktestConfig, statics, exog, spans: list | None = None):
    t0 = time.monotonic()
    out = fit_predict("lightgbm", m, horizon, cfg, statics, exog)
    if spans is not None:
        spans.append((t0, time.monotonic()))
    return out


def seconds_per_fit(spans: list[tuple[float, float]]) -> float | None:
    """Wall-clock seconds per LightGBM fit+predict of concurrent fits: from the first start to
    the last end, divided by the number of fits (comparable with one fit made alone)."""
    if not spans:
        return None
    return round((max(e for _, e in spans) - min(s for s, _ in spans)) / len(spans), 1)


def apply_calibration(mean: np.ndarray, level: np.ndarray, seg_codes: np.ndarray, cal: np.ndarray) -> np.ndarray:
    """Quantiles = mean + level x (scaled error quantile of the series' segment and step)."""
    q = mean[..., None] + level[:, None, None] * cal[seg_codes][:, : mean.shape[1], :]
    return np.sort(np.maximum(q, 0), axis=-1)


# central intervals as (lower, upper) positions in QUANTILES and their nominal coverage
INTERVALS = ((1, 3, 0.80), (0, 4, 0.95))
_FACTORS = np.geomspace(0.2, 5.0, 121)


def _scaled(q: np.ndarray, lo: int, hi: int, c) -> tuple[np.ndarray, np.ndarray]:
    """Interval (lo, hi) stretched (c > 1) about the median, or shrunk (c < 1) from the top only.

    Shrinking leaves the lower bound: on counts, any lower bound in (0, 1) excludes every zero
    actual, so raising a zero P10 by a hair would drop coverage in one step, not smoothly.
    """
    med = q[..., 2]
    lower = np.where(c > 1, np.maximum(med - c * (med - q[..., lo]), 0), q[..., lo])
    return lower, med + c * (q[..., hi] - med)


def fit_widths(pairs: list[tuple[np.ndarray, np.ndarray]], seg_codes: np.ndarray, n_seg: int) -> np.ndarray:
    """[segment, interval] factors that stretch or shrink native quantile intervals about the
    median so that they cover their nominal share of the backtest actuals.

    Quantile models trained with pinball loss are calibrated for continuous demand; on count
    data with many zeros the interval [P10, P90] covers every zero actual, so it covers more than
    80%. Each factor is the one, on a fine grid, whose backtest coverage is nearest the nominal
    (ties: nearest 1); segments with under 200 actuals take the pooled factor.
    """
    actual = np.concatenate([a for a, _ in pairs])
    q = np.concatenate([x for _, x in pairs])
    codes = np.concatenate([seg_codes for _ in pairs])
    ok = ~np.isnan(actual)
    out = np.ones((n_seg, len(INTERVALS)))

    def best(a, qq, nominal, lo, hi):
        covs = np.array([np.mean((a >= lo_) & (a <= hi_)) for lo_, hi_ in (_scaled(qq, lo, hi, c) for c in _FACTORS)])
        gap = np.abs(covs - nominal) + 1e-6 * np.abs(np.log(_FACTORS))
        return float(_FACTORS[np.argmin(gap)])

    for j, (lo, hi, nominal) in enumerate(INTERVALS):
        pooled = best(actual[ok], q[ok], nominal, lo, hi) if ok.any() else 1.0
        for sc in range(n_seg):
            sel = ok & (codes[:, None] == sc)
            out[sc, j] = best(actual[sel], q[sel], nominal, lo, hi) if sel.sum() >= 200 else pooled
    return out


def apply_widths(q: np.ndarray, seg_codes: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """Native quantiles with each series' segment factors applied (then sorted, non-negative)."""
    out = q.copy()
    for j, (lo, hi, _) in enumerate(INTERVALS):
        c = widths[seg_codes, j][:, None]
        out[..., lo], out[..., hi] = _scaled(q, lo, hi, c)
    return np.sort(np.maximum(out, 0), axis=-1)


def run_backtest(
    m: Matrix,
    cfg: BacktestConfig,
    statics=None,
    exog=None,
    price_raw: np.ndarray | None = None,
    final: dict | None = None,
) -> BacktestResult:
    """Score every candidate at each cutoff. `final`, a cache the caller will hand to
    `forecast_champions` on the same matrix, gets the final LightGBM fit started beside the
    cutoffs' (two at a time make the fits 12% cheaper, and the final one is usually needed)."""
    cuts = cutoff_dates(m, cfg.horizon, cfg.cutoffs, cfg.season)
    windows = [m.upto(cut) for cut in cuts] + ([m] if final is not None else [])
    spans: list[tuple[float, float]] = []  # (start, end) of each LightGBM fit made ahead
    ahead = prefit(windows, cfg.horizon, cfg, statics, exog, spans)
    if final is not None:
        final.update(ahead.pop())
    seg = demand_classes(m.upto(cuts[0]).observed, min(2 * cfg.horizon, len(m.upto(cuts[0]).dates) // 2))
    seg_names = sorted(set(seg))
    seg_codes = np.array([seg_names.index(s) for s in seg])
    first = m.upto(cuts[0])
    abc, xyz = abc_xyz(
        first.observed[:, -cfg.weight_window * 4 :],
        metrics.weights(
            first.observed, price_raw[:, : len(first.dates)] if price_raw is not None else None, cfg.weight_window * 4
        ),
    )
    groups = [("all", "all", np.ones(len(seg), bool))]
    groups += [("demand_class", g, seg == g) for g in seg_names]
    groups += [("abc", g, abc == g) for g in ("A", "B", "C") if (abc == g).any()]
    groups += [("xyz", g, xyz == g) for g in ("X", "Y", "Z") if (xyz == g).any()]
    rows: list = []
    per_rows: list = []
    seconds: dict[str, float] = {}
    last: dict = {}
    errors: dict[str, list[tuple[int, np.ndarray]]] = {c: [] for c in cfg.candidates}
    # model -> (actuals, intervals before widths) per cutoff: native quantiles from the first
    # cutoff on, calibrated ones from the second (the first has no earlier errors)
    pairs: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    with bars.bar(
        f"backtest, {len(cfg.candidates)} models x {len(cuts)} cutoffs", total=len(cuts) * len(cfg.candidates)
    ) as bar:
        for ci, cut in enumerate(cuts):
            train = m.upto(cut)
            T = len(train.dates)
            actual = m.observed[:, T : T + cfg.horizon]
            price = price_raw[:, :T] if price_raw is not None else None
            w = metrics.weights(train.observed, price, cfg.weight_window)
            level = _level(train.observed, cfg.horizon)
            cache: dict = ahead[ci]
            for name in cfg.candidates:
                t0 = time.monotonic()
                _, mean, q = fit_predict(name, train, cfg.horizon, cfg, statics, exog, cache)
                seconds[name] = seconds.get(name, 0.0) + time.monotonic() - t0
                errors[name].append((ci, (actual - mean) / level[:, None]))
                if q is None and ci > 0:  # intervals from the earlier cutoffs' errors
                    q = apply_calibration(
                        mean, level, seg_codes, _calibrate(errors[name][:-1], seg_codes, len(seg_names))
                    )
                    # then widths fitted on the earlier cutoffs' calibrated intervals, as in serving:
                    # on zero-heavy counts a P10 just above zero drops every zero actual
                    pairs.setdefault(name, []).append((actual, q))
                    if ci > 1:
                        q = apply_widths(q, seg_codes, fit_widths(pairs[name][:-1], seg_codes, len(seg_names)))
                elif q is not None:  # native quantiles: widths fitted on the earlier cutoffs, as in serving
                    pairs.setdefault(name, []).append((actual, q))
                    if ci > 0:
                        q = apply_widths(q, seg_codes, fit_widths(pairs[name][:-1], seg_codes, len(seg_names)))
                if ci == len(cuts) - 1:
                    last[name] = (mean, q)
                for grouping, segment, sel in groups:
                    res, per = metrics.evaluate(
                        actual[sel], mean[sel], train.observed[sel], w[sel], None if q is None else q[sel], QUANTILES
                    )
                    rows.append(
                        {
                            "model": name,
                            "cutoff": cut.date().isoformat(),
                            "grouping": grouping,
                            "segment": segment,
                            **res,
                        }
                    )
                    if segment == "all":
                        per_rows.append(
                            per.assign(
                                model=name,
                                cutoff=cut.date().isoformat(),
                                sku=m.keys["sku"].to_numpy(),
                                location_id=m.keys["location_id"].to_numpy(),
                                segment=seg,
                            )
                        )
                log.info("backtest %s @ %s: WRMSSE %.3f", name, cut.date(), rows[-len(groups)]["WRMSSE"])
                bar.advance(note=f"{name} @ {cut.date()}")
    scores = pd.DataFrame(rows)
    champions = choose(scores, cfg.selection_metric)
    cal = {name: _calibrate(errs, seg_codes, len(seg_names)) for name, errs in errors.items()}
    widths = {name: fit_widths(pp, seg_codes, len(seg_names)) for name, pp in pairs.items()}
    for name, wd in widths.items():
        log.info("interval widths for %s (80%%, 95%%) by segment %s: %s", name, seg_names, np.round(wd, 2).tolist())
    return BacktestResult(
        scores,
        pd.concat(per_rows, ignore_index=True),
        champions,
        pd.Series(seg, index=pd.MultiIndex.from_frame(m.keys)),
        cal,
        {k: round(v, 1) for k, v in seconds.items()},
        widths,
        last,
        spans,
    )


def _calibrate(errs: list[tuple[int, np.ndarray]], seg_codes: np.ndarray, n_seg: int) -> np.ndarray:
    """[segment, step, quantile] quantiles of scaled errors pooled over the given cutoffs."""
    e = np.concatenate([x for _, x in errs], axis=0)
    codes = np.concatenate([seg_codes for _ in errs])
    h = e.shape[1]
    out = np.zeros((n_seg, h, len(QUANTILES)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        pooled = np.nanquantile(e, QUANTILES, axis=0).T  # [step, q]
        for s in range(n_seg):
            rows = e[codes == s]
            if np.isfinite(rows).sum() >= 50:
                out[s] = np.nanquantile(rows, QUANTILES, axis=0).T
            else:
                out[s] = pooled
    return np.nan_to_num(out)


def choose(scores: pd.DataFrame, metric: str) -> dict[str, str]:
    """The model with the best mean `metric` over cutoffs, per demand class (and overall)."""
    s = scores[scores["grouping"].isin(["all", "demand_class"])]
    s = s.groupby(["segment", "model"])[metric].mean().reset_index()
    return {seg: g.sort_values(metric).iloc[0]["model"] for seg, g in s.groupby("segment")}
