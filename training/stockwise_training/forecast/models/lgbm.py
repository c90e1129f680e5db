"""A global LightGBM forecaster over all series: one direct multi-horizon model plus quantiles.

Each training example is (series, origin o, step k): features known at the origin (the Spark
panel's lags, rolling statistics and stockout counts at o, the last value, the mean of the same
season phase over the last 8 seasons), the target period's calendar and known covariates
(price relative to the origin's, promotion, events), the step k, and the series' category and
location. One model predicts every step (no recursion, so no compounding of errors). Censored
(stockout) targets are left out of training.

Cost is a feature: by default one L2 mean model (`blend=("tweedie",)` averages in a Tweedie
one at twice the cost), and the quantiles come from the backtest's own errors per segment and
step (`backtest.apply_calibration`) instead of five pinball-loss boosters, which cost more than
the mean model (`quantiles=QUANTILES` brings them back). Long fits log their progress every 30
seconds.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from stockwise import bars, frequency
from stockwise_training.forecast.panel import Matrix, future_dates

log = logging.getLogger(__name__)

ORIGIN_PREFIXES = ("lag_", "rmean_", "rstd_", "stockout_days_")


@dataclass
class LGBMParams:
    horizon: int = 28
    season: int = 7
    stride: int = 7  # periods between training origins
    max_origins: int = 104
    # training rows kept at most (None: every row). A round costs about rows x features (bagging
    # does not help: LightGBM still passes over every row), so this bounds a fit's cost on a
    # large catalogue. Beyond it a seeded sample keeps recent origins first: a row's chance
    # halves at `sample_half_age` origins old. Not the default: on M5, 500k of 800k rows cost
    # 0.0012 backtest WRMSSE but 0.012 on the holdout (450k: 0.016) and took only 20% off a
    # fit (a round has costs that do not shrink with the rows: split finding per leaf).
    max_rows: int | None = None
    sample_half_age: float = 26.0
    # boosting rounds at `learning_rate`: read at 200/300/400/500/600 rounds on the backtest
    # cutoffs, 400 is within 0.0007 WRMSSE of 600 on M5 daily and better on car parts (0.572 vs
    # 0.577) and M5 weekly (0.990 vs 0.994), which over-fit by 600, for a third less time
    rounds: int = 400
    quantile_rounds: int = 250
    learning_rate: float = 0.04
    num_leaves: int = 63
    min_data_in_leaf: int = 50
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.8  # rows each round sees: the cost of a round is about proportional
    objective: str = "regression"  # L2: the mean that RMSSE rewards (beat tweedie and poisson in backtests)
    # more mean models averaged into the mean forecast, one per objective (e.g. "tweedie"); each
    # doubles the cost for about 0.002 WRMSSE on M5, so none by default
    blend: tuple[str, ...] = ()
    tweedie_power: float = 1.2
    # pooled features: the same rolling means over the series' group (the item in every
    # location, the category in the series' location), denoising sparse series
    group_features: bool = False
    # price momentum (the target's price over the last 4 seasons' mean price) and the price
    # relative to the same item's mean price across locations on the target date
    price_features: bool = True
    # mean models weight each series by what the score weighs: "wrmsse" (dollar-sales share /
    # squared-difference scale), "mixed" (half dollar share, half uniform, / scale), "" (none)
    sample_weights: str = ""
    # periods since the last sale at the origin and the share of selling periods in the last
    # four seasons: a long zero run is often a delisting or an unrecorded stockout
    recency_features: bool = False
    threads: int = 2
    seed: int = 0
    # native quantile models (pinball loss); empty: quantiles calibrated on the backtest errors
    quantiles: tuple[float, ...] = ()
    extra: dict = field(default_factory=dict)


def _season_mean(y: np.ndarray, season: int, n: int = 8) -> np.ndarray:
    """Mean of the same season phase over the last `n` seasons, including the period itself.

    Summed one season back at a time (the same additions in the same order as a NaN-ignoring
    mean over a stack of the `n` shifted copies, without holding the stack: 0.9 GB at 20,000
    series x 2 years). No np.nanmean: silencing its warning is not thread-safe, and the backtest
    fits two models at once."""
    total = np.zeros(y.shape)
    count = np.zeros(y.shape)
    for j in range(n):
        if j * season >= y.shape[1]:
            break  # histories shorter than n seasons use the seasons they have
        src = y[:, : y.shape[1] - j * season]
        ok = ~np.isnan(src)
        total[:, j * season :] += np.where(ok, src, 0.0)
        count[:, j * season :] += ok
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def _group_mean(mat: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Each row replaced by the NaN-ignoring mean of its group's rows (per period)."""
    sums = np.zeros((n_groups, mat.shape[1]))
    cnt = np.zeros((n_groups, mat.shape[1]))
    np.add.at(sums, codes, np.nan_to_num(mat))
    np.add.at(cnt, codes, ~np.isnan(mat))
    with np.errstate(all="ignore"):
        return np.where(cnt > 0, sums / cnt, np.nan)[codes]


def _recency(qty: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """[series, period] periods since the last positive quantity (up to and including the
    period; NaN before the first sale) and the share of positive periods in the last `window`."""
    pos = np.nan_to_num(qty) > 0
    idx = np.where(pos, np.arange(qty.shape[1])[None, :], -1)
    last = np.maximum.accumulate(idx, axis=1)
    run = np.where(last >= 0, np.arange(qty.shape[1])[None, :] - last, np.nan).astype(float)
    share = pd.DataFrame(pos.astype(float)).T.rolling(window, min_periods=1).mean().T.to_numpy()
    return run, share


def _recent_first(o: np.ndarray, n: int, half_age: float, seed: int) -> np.ndarray:
    """Indices of about `n` rows, each kept with chance min(1, c / (1 + age / half_age)), age in
    origins before the newest, c solved so that about `n` are kept (the newest kept first)."""
    present = np.zeros(int(o.max()) + 1, dtype=bool)
    present[o] = True
    age = (np.cumsum(present) - 1).astype(np.int32)[o]  # the rank of o among the origins present
    w = 1.0 / (1.0 + (age.max() - age) / half_age)
    del age
    buf = np.empty_like(w)  # one scratch array for the 50 sums (tens of millions of rows at scale)
    lo, hi = 0.0, 1.0 / w.min()
    for _ in range(50):  # bisection on c: expected rows kept = n
        c = (lo + hi) / 2
        np.multiply(c, w, out=buf)
        lo, hi = (c, hi) if np.minimum(1.0, buf, out=buf).sum() < n else (lo, c)
    np.multiply(hi, w, out=buf)
    return np.flatnonzero(np.random.default_rng(seed).random(len(o)) < np.minimum(1.0, buf, out=buf))


def _training_rows(
    obs: np.ndarray,
    qty: np.ndarray,
    origins: np.ndarray,
    horizon: int,
    block: int = 2_000,
    max_rows: int | None = None,
    half_age: float = 26.0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """(series, origin, target period, target) of every training example, series by series,
    then origin, then step: a target that is observed (not censored) from an origin where the
    series has started; with `max_rows`, a seeded sample of about that many, recent origins
    first (`_recent_first`). Also returns how many examples there were before sampling.

    Built a block of series at a time in int32, and when sampling, only the sampled rows are
    ever built (a first pass collects the origins the sample is drawn from): the whole grid at
    once (series x origins x steps, 58 M cells at 20,000 series) took 3 GB of int64 indices, and
    every example before the sample 0.9 GB more. The rows equal those of the whole grid, sampled
    after, to the last one."""
    steps = np.arange(1, horizon + 1, dtype=np.int32)
    o_cell = np.repeat(origins.astype(np.int32), horizon)  # one block row: origin-major, then step
    t_cell = o_cell + np.tile(steps, len(origins))
    blocks = [(a, min(a + block, obs.shape[0])) for a in range(0, obs.shape[0], block)]

    def kept(a: int, b: int):
        y = obs[a:b, t_cell]
        keep = ~np.isnan(y) & ~np.isnan(qty[a:b, o_cell])  # censored targets and unstarted series out
        return y, np.nonzero(keep)  # row-major: series, then cell (origin, step)

    pick, total = None, None
    if max_rows:
        o_all = np.concatenate([o_cell[kept(a, b)[1][1]] for a, b in blocks] or [np.zeros(0, np.int32)])
        total = len(o_all)
        if total > max_rows:
            pick = _recent_first(o_all, max_rows, half_age, seed)
        del o_all
    parts: list[tuple[np.ndarray, ...]] = []
    offset = 0
    for a, b in blocks:
        y, (si, ci) = kept(a, b)
        if pick is not None:  # the sampled rows of this block
            lo, hi = np.searchsorted(pick, [offset, offset + len(si)])
            local = pick[lo:hi] - offset
            offset += len(si)
            si, ci = si[local], ci[local]
        parts.append(((si + a).astype(np.int32), o_cell[ci], t_cell[ci], y[si, ci]))
    if not parts:
        empty = np.zeros(0, np.int32)
        return empty, empty, empty, np.zeros(0), 0
    s, o, t, yy = (np.concatenate(x) for x in zip(*parts, strict=True))
    return s, o, t, yy, total if total is not None else len(yy)


class _Columns:
    """The feature frame, each feature written straight into its column of one column-major
    float64 block as it is computed (a dict of arrays, then a frame of them, then LightGBM's
    float copy of that frame held three copies: 0.8 GB each at 3 M rows x 33 features).
    LightGBM reads the block in place, and it holds the same float64 numbers as before, so the
    fitted model is the same. Reads a written feature back like a dict."""

    def __init__(self, rows: int, width: int) -> None:
        self.X = np.empty((rows, width), order="F")  # pages of unused columns are never touched
        self.names: dict[str, int] = {}

    def __setitem__(self, name: str, values) -> None:
        self.X[:, len(self.names)] = values
        self.names[name] = len(self.names)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.X[:, self.names[name]]

    def __contains__(self, name: str) -> bool:
        return name in self.names

    def get(self, name: str, default: np.ndarray) -> np.ndarray:
        j = self.names.get(name)
        return default if j is None else self.X[:, j]

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.X[:, : len(self.names)], columns=list(self.names), copy=False)


class _Progress:
    """A LightGBM callback that logs the round reached at most every `EVERY` seconds: long fits
    say where they are (in the CLI and the Airflow task log) instead of going silent."""

    EVERY = 30.0  # seconds

    def __init__(self, what: str, rows: int, rounds: int, bar=None) -> None:
        self.what, self.rows, self.rounds, self.bar = what, rows, rounds, bar
        self.t0 = self.last = time.monotonic()

    def __call__(self, env) -> None:
        if self.bar is not None:
            self.bar.advance()
        now = time.monotonic()
        if now - self.last >= self.EVERY:
            self.last = now
            log.info(
                "%s: round %d/%d, %s rows, %.0fs",
                self.what,
                env.iteration + 1,
                self.rounds,
                f"{self.rows:,}",
                now - self.t0,
            )


class GlobalLGBM:
    name = "lightgbm"

    def __init__(self, **params) -> None:
        self.p = LGBMParams(**params)

    # --- feature assembly ---------------------------------------------------------------------
    def _setup(self, m: Matrix, statics: pd.DataFrame | None, exog: pd.DataFrame | None) -> None:
        self.m = m
        self.obs = m.observed
        self.smean = _season_mean(self.obs, self.p.season)
        self.origin_cols = [c for c in m.cols if c.startswith(ORIGIN_PREFIXES)]
        st = statics if statics is not None else m.keys[["sku"]].assign(category="all")
        st = m.keys.merge(st, on=[c for c in ("sku", "location_id") if c in st], how="left")
        # category codes from the training vocabulary, so a new history (serving, a partition)
        # gets the same code for the same category; unseen values are missing to the trees
        values = {
            "category": st["category"].fillna("?").astype(str) if "category" in st else pd.Series("?", index=st.index),
            "location_id": st["location_id"].astype(str),
        }
        if not hasattr(self, "vocab"):
            self.vocab = {c: sorted(v.unique()) for c, v in values.items()}
        self.cat_codes = {c: pd.Categorical(v, categories=self.vocab[c]).codes for c, v in values.items()}
        self.group_cols = self._group_means(m, st) if self.p.group_features else {}
        # covariates over history + the future: price, promotion, events (known in advance)
        fut = future_dates(m.dates[-1], self.p.horizon, m.freq)
        self.all_dates = m.dates.append(fut)
        price, promo = self._covariates(m, exog)
        # a zero or negative price is "not on sale" (no price), never a divisor
        price[~(price > 0)] = np.nan
        self.price = pd.DataFrame(price).ffill(axis=1).to_numpy()
        self.promo = promo
        if self.p.recency_features:
            self.zero_run, self.sell_share = _recency(m.cols["qty"], 4 * self.p.season)
        if self.p.price_features:
            win = 4 * self.p.season
            self.price_ref = pd.DataFrame(self.price).T.rolling(win, min_periods=1).mean().T.to_numpy()
            codes, uniq = pd.factorize(m.keys["sku"].astype(str))
            self.price_item = _group_mean(self.price, codes, len(uniq))

    def _covariates(self, m: Matrix, exog: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray]:
        """Price and promotion [series, history + horizon] and the other planned covariates."""
        n_all = len(self.all_dates)
        price = np.full((len(m.keys), n_all), np.nan)
        if "price" in m.cols:
            price[:, : len(m.dates)] = m.cols["price"]
        promo = np.zeros((len(m.keys), n_all))
        if "on_promo" in m.cols:
            promo[:, : len(m.dates)] = np.nan_to_num(m.cols["on_promo"])
        self.exog_cols: dict[str, np.ndarray] = {}
        # prices and promotions planned in advance (a covariates file): the only values of them a
        # target period may use. The panel's own price/promotion at a period comes from that
        # period's sales rows, so it exists only where something sold: reading it at the target
        # would leak the target (and serving never has it); without a plan, the target sees the
        # values as of the origin, exactly as serving does
        self.planned: dict[str, np.ndarray] = {}
        if exog is None or not len(exog):
            return price, promo
        e = exog.copy()
        e["date"] = pd.to_datetime(e["date"])
        s_idx = pd.MultiIndex.from_frame(m.keys).get_indexer(pd.MultiIndex.from_frame(e[["sku", "location_id"]]))
        t_idx = self.all_dates.get_indexer(e["date"])
        ok = (s_idx >= 0) & (t_idx >= 0)
        for c in e.columns:
            if c in ("sku", "location_id", "date"):
                continue
            mat = np.full((len(m.keys), n_all), np.nan)
            vals = e[c]
            if not pd.api.types.is_numeric_dtype(vals):
                vals = pd.Series(pd.Categorical(vals.fillna("none")).codes, index=vals.index)
            mat[s_idx[ok], t_idx[ok]] = vals.to_numpy(dtype=float)[ok]
            if c == "price":
                fill = ~np.isnan(mat)
                price[fill] = mat[fill]
                self.planned["price"] = mat
            elif c == "on_promo":
                promo[~np.isnan(mat)] = mat[~np.isnan(mat)]
                self.planned["on_promo"] = mat
            else:
                self.exog_cols[c] = mat
        return price, promo

    def _group_means(self, m: Matrix, st: pd.DataFrame) -> dict[str, tuple[np.ndarray, bool]]:
        """[series, period] means of the rolling features over each series' group.

        Groups: the item across locations, and the category within a location. A grouping in
        which every series is alone adds nothing and is skipped. Returns name -> (matrix, by
        season phase?) where season-phase matrices are read at the target's phase reference.
        """
        groups = {"item": m.keys["sku"].astype(str).to_numpy()}
        if "category" in st:
            groups["loc_cat"] = (
                st["location_id"].astype(str) + "|" + st["category"].fillna("?").astype(str)
            ).to_numpy()
        sources: dict[str, np.ndarray] = {
            c: m.cols[c] for c in ("rmean_7", "rmean_28", "rmean_3", "rmean_12", "lag_1") if c in m.cols
        }
        sources["season_mean"] = self.smean
        out: dict[str, tuple[np.ndarray, bool]] = {}
        for gname, labels in groups.items():
            codes, uniq = pd.factorize(labels)
            if len(uniq) == len(labels):
                continue
            for c, mat in sources.items():
                out[f"{gname}_{c}"] = (_group_mean(mat, codes, len(uniq)), c == "season_mean")
        return out

    def _known_at(self, s: np.ndarray, o: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Price and promotion of target period t as known at origin o: planned where a plan
        gives them, else the origin's."""
        price, promo = self.price[s, o], self.promo[s, o]
        if "price" in self.planned:
            plan = self.planned["price"][s, t]
            price = np.where(np.isnan(plan), price, plan)
        if "on_promo" in self.planned:
            plan = self.planned["on_promo"][s, t]
            promo = np.where(np.isnan(plan), promo, plan)
        return price, promo

    def _features(self, s: np.ndarray, o: np.ndarray, t: np.ndarray) -> pd.DataFrame:
        m, p = self.m, self.p
        k = t - o
        phase_ref = t - p.season * np.ceil(k / p.season).astype(int)
        width = 25 + len(self.origin_cols) + len(self.group_cols) + len(self.exog_cols)  # at least the features below
        f = _Columns(len(s), width)
        f["k"], f["y_origin"], f["stockout_origin"] = k, m.cols["qty"][s, o], m.cols["stockout"][s, o]
        for c in self.origin_cols:
            f[c] = m.cols[c][s, o]
        f["season_mean"] = self.smean[s, phase_ref]
        price_t, promo_t = self._known_at(s, o, t)
        f["season_last"] = self.obs[s, phase_ref]
        base = np.where(
            np.isnan(f.get("rmean_28", f["season_mean"])), f["season_mean"], f.get("rmean_28", f["season_mean"])
        )
        with np.errstate(all="ignore"):
            f["season_ratio"] = f["season_mean"] / base
            f["price_ratio_target"] = price_t / self.price[s, o]
        for name, (mat, phased) in self.group_cols.items():
            f[name] = mat[s, phase_ref] if phased else mat[s, o]
        if "item_rmean_28" in f and "rmean_28" in f:
            with np.errstate(all="ignore"):
                f["item_share_28"] = f["rmean_28"] / f["item_rmean_28"]
        f["price_target"] = price_t
        if self.p.recency_features:
            f["zero_run"] = self.zero_run[s, o]
            f["sell_share"] = self.sell_share[s, o]
        if self.p.price_features:
            with np.errstate(all="ignore"):
                f["price_momentum"] = price_t / self.price_ref[s, o]
                # the item's price elsewhere on the target date is known only from a plan
                item_at = t if "price" in self.planned else o
                f["price_rel_item"] = price_t / self.price_item[s, item_at]
        f["promo_target"] = promo_t
        d = self.all_dates[t]
        kind = frequency.parse(m.freq).kind
        if kind == "D":
            f["dow"] = d.dayofweek.to_numpy()
            f["dom"] = d.day.to_numpy()
        if kind in ("D", "W"):
            f["woy"] = d.isocalendar().week.to_numpy().astype(int)
        f["month"] = d.month.to_numpy()
        for c, mat in self.exog_cols.items():
            f[c] = mat[s, t]
        f["category"] = self.cat_codes["category"][s]
        if "location_id" in self.cat_codes:
            f["location"] = self.cat_codes["location_id"][s]
        return f.frame()

    # --- fit / predict ------------------------------------------------------------------------
    def fit(self, m: Matrix, statics: pd.DataFrame | None = None, exog: pd.DataFrame | None = None) -> GlobalLGBM:
        import lightgbm as lgb

        self.__dict__.pop("vocab", None)
        self._setup(m, statics, exog)
        p = self.p
        T = len(m.dates)
        last_origin = T - 1 - p.horizon
        # from one season of history on (lags not yet available are missing values to the trees)
        first_origin = min(max(p.season, 3), last_origin)  # short histories still get origins
        origins = np.arange(last_origin, first_origin - 1, -p.stride)[: p.max_origins]
        if last_origin < 1 or not len(origins):
            raise ValueError(f"not enough history ({T} periods) for horizon {p.horizon}")
        s, o, t, y, examples = _training_rows(
            self.obs, m.cols["qty"], origins, p.horizon, max_rows=p.max_rows, half_age=p.sample_half_age, seed=p.seed
        )
        if len(y) < examples:
            log.info("lightgbm: %d of %d training rows kept (recent origins first)", len(y), examples)
        X = self._features(s, o, t)
        self.feature_names = list(X.columns)
        cats = [c for c in ("category", "location") if c in X]
        base = {
            "learning_rate": p.learning_rate,
            "num_leaves": p.num_leaves,
            "min_data_in_leaf": p.min_data_in_leaf,
            "feature_fraction": p.feature_fraction,
            "bagging_fraction": p.bagging_fraction,
            "bagging_freq": 1,
            "num_threads": p.threads,
            "seed": p.seed,
            "verbose": -1,
            **p.extra,  # any other LightGBM parameter (overrides the above)
        }
        upto = m.dates[-1].date()
        log.info(
            "lightgbm on data to %s: %d training rows x %d features from %d origins",
            upto,
            len(X),
            X.shape[1],
            len(origins),
        )
        ds = lgb.Dataset(X, y, categorical_feature=cats, free_raw_data=False)
        mean_ds = ds
        if p.sample_weights:
            sw = self._series_weights(m)[s]
            mean_ds = lgb.Dataset(X, y, weight=sw / sw.mean(), categorical_feature=cats, free_raw_data=False)
        obj: dict[str, str | float] = {"objective": p.objective}
        if p.objective == "tweedie":
            obj["tweedie_variance_power"] = p.tweedie_power

        def train(params: dict, data, rounds: int, what: str):
            label = f"lightgbm {what} model on data to {upto}"
            with bars.bar(f"{label}, {len(X):,} rows", total=rounds, transient=True) as b:
                tick = _Progress(label, len(X), rounds, b)
                return lgb.train({**base, **params}, data, num_boost_round=rounds, callbacks=[tick])

        self.mean_model = train(obj, mean_ds, p.rounds, str(p.objective))
        self.blend_models = []
        for i, objective in enumerate(p.blend):
            extra = {"tweedie_variance_power": p.tweedie_power} if objective == "tweedie" else {}
            self.blend_models.append(
                train({"seed": p.seed + 1 + i, "objective": objective, **extra}, mean_ds, p.rounds, objective)
            )
        self.q_models = {}
        for q in p.quantiles:
            self.q_models[q] = train({"objective": "quantile", "alpha": q}, ds, p.quantile_rounds, f"P{100 * q:g}")
        self.importance = pd.Series(self.mean_model.feature_importance("gain"), index=self.feature_names).sort_values(
            ascending=False
        )
        self.n_train_rows = len(X)
        return self

    def _series_weights(self, m: Matrix) -> np.ndarray:
        """Per-series training weight aligned with the score (see `sample_weights`)."""
        from stockwise_training.forecast import metrics

        _, s2 = metrics.scales(self.obs)
        window = frequency.parse(m.freq).recent if m.freq == "D" else self.p.season
        dollars = metrics.weights(self.obs, m.cols.get("price"), window)
        share = dollars / max(dollars.sum(), 1e-9)
        if self.p.sample_weights == "mixed":
            share = 0.5 * share + 0.5 / len(share)
        elif self.p.sample_weights != "wrmsse":
            raise ValueError(f"sample_weights must be '', 'wrmsse' or 'mixed', not {self.p.sample_weights!r}")
        with np.errstate(all="ignore"):
            w = np.nan_to_num(share / s2, nan=0.0, posinf=0.0)
        cap = 20 * w[w > 0].mean() if (w > 0).any() else 1.0
        return np.clip(w, 0, cap) + 1e-6  # no series entirely out of the mean models

    def slim(self) -> GlobalLGBM:
        """Drop the training matrices (before saving into a registered model or leaving a Spark task)."""
        for attr in (
            "m",
            "obs",
            "smean",
            "price",
            "promo",
            "exog_cols",
            "all_dates",
            "group_cols",
            "price_ref",
            "price_item",
            "zero_run",
            "sell_share",
            "planned",
        ):
            self.__dict__.pop(attr, None)
        return self

    def predict_on(self, m: Matrix, horizon: int, statics=None, exog=None):
        """Forecast from a new history with the fitted boosters (no refit)."""
        self._setup(m, statics, exog)
        try:
            return self.predict(horizon)
        finally:
            self.slim()

    def predict(self, horizon: int, future=None):
        p = self.p
        if horizon > p.horizon:
            raise ValueError(f"model trained for horizon {p.horizon}, asked for {horizon}")
        T = len(self.m.dates)
        S = len(self.m.keys)
        sg, kg = np.meshgrid(np.arange(S), np.arange(1, horizon + 1), indexing="ij")
        s, k = sg.ravel(), kg.ravel()
        o = np.full_like(s, T - 1)
        X = self._features(s, o, o + k)
        models = [self.mean_model, *getattr(self, "blend_models", [])]
        mean = np.maximum(np.mean([b.predict(X) for b in models], axis=0), 0).reshape(S, horizon)
        if not p.quantiles:
            return mean, None
        qs = np.stack([np.maximum(self.q_models[q].predict(X), 0).reshape(S, horizon) for q in p.quantiles], axis=-1)
        return mean, np.sort(qs, axis=-1)
