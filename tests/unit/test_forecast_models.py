"""Each forecaster on tiny data: complete, non-negative, sensible; no look-ahead."""

import numpy as np
import pandas as pd
import pytest

from stockwise_training.forecast.models import make
from stockwise_training.forecast.panel import QUANTILES, demand_classes, to_matrix

H = 14


def panel(n_days=200, seed=0, kinds=("smooth", "intermittent", "constant")):
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2025-01-01", periods=n_days)
    rows = []
    for i, kind in enumerate(kinds):
        if kind == "smooth":
            y = rng.poisson(8 * (1 + 0.5 * (dates.dayofweek == 5)))
        elif kind == "intermittent":
            y = rng.poisson(0.15, n_days) * rng.integers(1, 4, n_days)
        else:
            y = np.full(n_days, 3)
        df = pd.DataFrame(
            {
                "sku": f"S{i}",
                "location_id": "L",
                "date": dates,
                "qty": y.astype(float),
                "stockout": False,
                "price": 2.0,
                "on_promo": 0,
            }
        )
        # the panel's origin features, computed as the Spark job does (windows end the day before)
        q = df["qty"]
        for lag in (1, 7, 14, 28):
            df[f"lag_{lag}"] = q.shift(lag)
        for w in (7, 28):
            df[f"rmean_{w}"] = q.shift(1).rolling(w, min_periods=1).mean()
        rows.append(df)
    return pd.concat(rows, ignore_index=True)


@pytest.mark.parametrize(
    "name", ["seasonal_naive", "moving_average", "shaped_average", "tsb", "croston_sba", "cold_start"]
)
def test_statistical_models_complete_and_non_negative(name):
    m = to_matrix(panel(), "D")
    mean, q = make(name).fit(m).predict(H)
    assert mean.shape == (3, H) and np.isfinite(mean).all() and (mean >= 0).all()
    assert q is None


@pytest.mark.parametrize(
    "name", ["seasonal_naive", "moving_average", "shaped_average", "tsb", "croston_sba", "cold_start"]
)
def test_constant_series_stays_flat(name):
    m = to_matrix(panel(kinds=("constant",)), "D")
    mean, _ = make(name).fit(m).predict(H)
    expected = 3.0 * (1 - 0.1 / 2) if name == "croston_sba" else 3.0  # SBA deflates by design
    assert np.allclose(mean, expected)


def test_intermittent_methods_ignore_censored_periods():
    p = panel(kinds=("constant",))
    last = p["date"] >= p["date"].max() - pd.Timedelta(days=9)
    p.loc[last, "qty"] = 0.0
    p.loc[last, "stockout"] = True  # zeros while out of stock are not demand
    m = to_matrix(p, "D")
    for name in ("tsb", "moving_average"):
        mean, _ = make(name).fit(m).predict(H)
        assert np.allclose(mean, 3.0), name


@pytest.mark.slow
def test_lightgbm_quantiles_and_no_look_ahead():
    p = panel(n_days=240)
    m = to_matrix(p, "D")
    params = dict(horizon=H, rounds=30, quantile_rounds=20, num_leaves=7, min_data_in_leaf=5, threads=1)
    assert make("lightgbm", **params).fit(m).predict(H)[1] is None  # default: calibrated on the backtest
    model = make("lightgbm", quantiles=QUANTILES, **params).fit(m)
    mean, q = model.predict(H)
    assert mean.shape == (3, H) and (mean >= 0).all()
    assert q.shape == (3, H, 5) and (np.diff(q, axis=-1) >= 0).all()
    assert model.n_train_rows > 0 and model.importance.index[0]
    # a forecast from a cutoff must not change when the data after the cutoff changes
    cut = m.dates[180]
    p2 = p.copy()
    p2.loc[p2["date"] > cut, "qty"] = 999.0
    a, _ = make("lightgbm", **params).fit(m.upto(cut)).predict(H)
    b, _ = make("lightgbm", **params).fit(to_matrix(p2, "D").upto(cut)).predict(H)
    np.testing.assert_allclose(a, b)


@pytest.mark.slow
def test_lightgbm_group_features_and_blend():
    """Pooled item/category features exist only where series share a group; blended means average."""
    p = panel(n_days=200, kinds=("smooth", "smooth", "intermittent", "smooth"))
    p["location_id"] = np.where(p["sku"].isin(["S0", "S2"]), "L1", "L2")
    p.loc[p["sku"] == "S3", "sku"] = "S0"  # S0 sold at both locations: an item group of two
    m = to_matrix(p, "D")
    statics = pd.DataFrame({"sku": ["S0", "S1", "S2"], "category": ["food", "food", "tools"]})
    params = dict(horizon=H, rounds=20, quantile_rounds=10, num_leaves=7, min_data_in_leaf=5, threads=1)
    g = make("lightgbm", group_features=True, price_features=True, blend=("tweedie",), **params).fit(m, statics=statics)
    assert {
        "item_rmean_28",
        "loc_cat_rmean_7",
        "item_share_28",
        "item_season_mean",
        "price_momentum",
        "price_rel_item",
    } <= set(g.feature_names)
    assert len(g.blend_models) == 1
    mean, q = g.predict(H)
    assert mean.shape == (4, H) and (mean >= 0).all() and q is None
    assert make("lightgbm", **params).fit(m, statics=statics).blend_models == []  # default: one mean model
    # the item feature of S0 at L1 is the mean of S0's two locations, at the origin
    item = g.group_cols["item_rmean_28"][0][:, -1]
    s0 = (m.keys["sku"] == "S0").to_numpy()
    np.testing.assert_allclose(item[s0], m.cols["rmean_28"][s0, -1].mean())


def test_target_price_and_promotion_come_from_a_plan_or_the_origin_never_from_target_sales():
    """The panel's price/promotion of a period come from that period's sales rows: a training
    example may not read them at its target (serving never can); a planned value it may."""
    p = panel(n_days=80, kinds=("smooth",))
    p["on_promo"] = 0.0
    m = to_matrix(p, "D")
    g = make("lightgbm", horizon=H)
    s, o, t = np.array([0]), np.array([50]), np.array([55])
    g._setup(m, None, None)
    before = g._features(s, o, t)
    m.cols["price"][0, 53:] = 1.0  # a promotion's price cut and flag, seen only on sale days
    m.cols["on_promo"][0, 53:] = 1.0
    g._setup(m, None, None)
    after = g._features(s, o, t)
    for c in ("price_target", "price_ratio_target", "price_momentum", "price_rel_item", "promo_target"):
        assert after[c].iloc[0] == before[c].iloc[0], c
    # a plan (covariates file) is known in advance: the target reads it
    plan = pd.DataFrame({"sku": "S0", "location_id": "L", "date": m.dates[55], "price": [1.5], "on_promo": [1.0]})
    g._setup(m, None, plan)
    planned = g._features(s, o, t)
    assert planned["price_target"].iloc[0] == 1.5 and planned["promo_target"].iloc[0] == 1.0


def test_recency_features_by_hand():
    from stockwise_training.forecast.models.lgbm import _recency

    q = np.array([[np.nan, 0, 2, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 0]], float)
    run, share = _recency(q, 3)
    np.testing.assert_array_equal(run[0], [np.nan, np.nan, 0, 1, 2, 0, 1])
    assert np.isnan(run[1]).all()  # never sold: no run to count
    np.testing.assert_allclose(share[0], [0, 0, 1 / 3, 1 / 3, 1 / 3, 1 / 3, 1 / 3])


def test_lightgbm_score_aligned_series_weights():
    m = to_matrix(panel(n_days=120, kinds=("smooth", "intermittent", "constant")), "D")
    g = make("lightgbm", horizon=H, sample_weights="wrmsse")
    g.obs = m.observed
    w = g._series_weights(m)
    # the constant series has no period-to-period change (scale 0): it gets no more than the cap
    assert w.shape == (3,) and (w > 0).all() and w[0] > w[1]
    g.p.sample_weights = "mixed"
    assert g._series_weights(m)[1] > w[1]  # half the weight is uniform: the slow mover gains
    g.p.sample_weights = "rmse"
    with pytest.raises(ValueError, match="sample_weights"):
        g._series_weights(m)


@pytest.mark.slow
def test_partitioned_lightgbm_in_process_matches_one_model_per_partition():
    p = panel(n_days=160, kinds=("smooth", "intermittent", "smooth", "constant"))
    p["location_id"] = np.where(p["sku"].isin(["S0", "S1"]), "L1", "L2")
    m = to_matrix(p, "D")
    params = dict(horizon=H, rounds=20, quantile_rounds=10, num_leaves=7, min_data_in_leaf=5, quantiles=QUANTILES)
    part = make("lightgbm", partition_by="location_id", spark=False, **params).fit(m)
    assert sorted(part.models) == ["L1", "L2"]
    mean, q = part.predict(H)
    assert mean.shape == (4, H) and (mean >= 0).all() and q.shape == (4, H, 5)
    # L2's rows are exactly a model fitted on L2's series alone
    l2 = (m.keys["location_id"] == "L2").to_numpy()
    alone = make("lightgbm", threads=1, **params).fit(to_matrix(p[p["location_id"] == "L2"], "D"))
    np.testing.assert_allclose(mean[l2], alone.predict(H)[0])
    # serving: a new history forecast partition by partition with the fitted boosters
    mu2, q2 = part.predict_on(m, H)
    np.testing.assert_allclose(mu2, mean)
    with pytest.raises(ValueError, match="partition_by"):
        make("lightgbm", partition_by="store", **params)


def test_demand_classes():
    m = to_matrix(panel(kinds=("smooth", "intermittent", "constant")), "D")
    assert list(demand_classes(m.observed, 28)) == ["smooth", "intermittent", "smooth"]
    assert demand_classes(m.observed[:, :10], 28)[0] == "new"
    assert demand_classes(np.zeros((1, 50)), 28)[0] == "inactive"


def test_cold_start_borrows_its_category_at_its_location_then_its_own_history():
    rng = np.random.default_rng(1)
    dates = pd.date_range("2025-01-01", periods=120)
    rows = []
    for sku, cat, loc, level, start in [
        ("A", "soda", "L1", 10, 0),
        ("B", "soda", "L1", 12, 0),
        ("C", "soap", "L1", 1, 0),
        ("D", "soda", "L2", 30, 0),
        ("NEW", "soda", "L1", 2, 117),
        ("OLD", "soda", "L1", 2, 0),
    ]:
        y = rng.poisson(level, len(dates)).astype(float)
        y[:start] = np.nan
        rows.append(pd.DataFrame({"sku": sku, "location_id": loc, "date": dates, "qty": y, "stockout": False}))
    p = pd.concat(rows, ignore_index=True).dropna(subset=["qty"])
    m = to_matrix(p, "D")
    statics = pd.DataFrame(
        {"sku": ["A", "B", "C", "D", "NEW", "OLD"], "category": ["soda", "soda", "soap", "soda", "soda", "soda"]}
    )
    mean, _ = make("cold_start").fit(m, statics=statics).predict(14)
    level = dict(zip(m.keys["sku"], mean.mean(axis=1), strict=True))
    # three days of its own sales say little: it starts near soda at L1 (A, B and OLD: median ~10),
    # not soda chain-wide (D's 30 at L2), not soap; an established item keeps its own level
    assert 6 < level["NEW"] < 11 and 1 < level["OLD"] < 3


def test_long_lightgbm_fits_report_progress(caplog, monkeypatch):
    """Each booster logs the round it reached (every 30 s by default; here on every round)."""
    import logging

    from stockwise_training.forecast.models import lgbm

    m = to_matrix(panel(n_days=120), "D")
    caplog.set_level(logging.INFO, logger=lgbm.__name__)
    monkeypatch.setattr(lgbm._Progress, "EVERY", 0.0)
    make("lightgbm", horizon=7, rounds=3, quantile_rounds=2, quantiles=QUANTILES, threads=1, min_data_in_leaf=5).fit(m)
    lines = [r.getMessage() for r in caplog.records if "round" in r.getMessage()]
    assert any(line.startswith("lightgbm regression model on data to 2025-04-30: round 3/3,") for line in lines)
    assert any("lightgbm P97.5 model" in line for line in lines)


def test_a_row_budget_keeps_recent_origins_first():
    """`max_rows` bounds a fit's cost on a large catalogue: about that many rows, the newest
    origin kept whole, an origin `sample_half_age` older at about half the newest's rate."""
    from stockwise_training.forecast.models.lgbm import _recent_first

    o = np.repeat(np.arange(100, 0, -1), 1_000)  # 100 origins (the newest is 100) x 1,000 rows
    pick = _recent_first(o, 30_000, 26.0, seed=0)
    assert abs(len(pick) - 30_000) < 600 and np.all(np.diff(pick) > 0)
    kept = np.bincount(o[pick], minlength=101)[1:] / 1_000  # share kept per origin, oldest first
    assert kept[-1] > 0.9 * kept[-27:].max() and kept[0] < kept[-1] / 2.5  # recent first, old thinned

    m = to_matrix(panel(n_days=160), "D")
    full = make("lightgbm", horizon=7, rounds=3, threads=1, min_data_in_leaf=5).fit(m)
    small = make("lightgbm", horizon=7, rounds=3, threads=1, min_data_in_leaf=5, max_rows=200).fit(m)
    assert full.n_train_rows == 441 and abs(small.n_train_rows - 200) < 40
    mean, _ = small.predict(7)
    assert mean.shape == (3, 7) and np.isfinite(mean).all() and (mean >= 0).all()


def test_lightgbm_fits_made_two_at_a_time_equal_fits_made_one_by_one(monkeypatch):
    """The backtest fits LightGBM at every cutoff and for the final forecast two at a time (one
    thread each): the same scores and forecast as one by one, the final fit made once, and a
    fit that fails fails the backtest."""
    from dataclasses import replace

    from stockwise_training.forecast import backtest
    from stockwise_training.forecast.backtest import BacktestConfig, run_backtest
    from stockwise_training.forecast.champion import forecast_champions

    m = to_matrix(panel(n_days=200, kinds=("smooth", "intermittent", "smooth", "constant")), "D")
    lgbm = {"rounds": 15, "num_leaves": 7, "min_data_in_leaf": 5}

    def cfg(concurrent):
        return BacktestConfig(
            horizon=H,
            cutoffs=3,
            candidates=("shaped_average", "lightgbm", "ensemble"),
            model_params={"lightgbm": lgbm},
            concurrent_fits=concurrent,
        )

    fits = []
    real = backtest._fit_one
    monkeypatch.setattr(backtest, "_fit_one", lambda *a, **k: fits.append(len(a[0].dates)) or real(*a, **k))
    final: dict = {}
    together = run_backtest(m, cfg(2), final=final)
    fc_together, models = forecast_champions(m, together, cfg(2), H, cache=final)
    # three cutoffs a horizon apart (the last a horizon before the end) and the final fit, once
    final["lightgbm"].result()  # not chosen (below), so nobody waited for it yet
    assert sorted(fits) == [158, 172, 186, 200] and len(together.fit_spans) == 4
    assert together.champions["all"] == "shaped_average" and "lightgbm" not in models  # made ahead, not used

    only = BacktestConfig(horizon=H, cutoffs=2, candidates=("lightgbm",), model_params={"lightgbm": lgbm})
    final = {}
    _, models = forecast_champions(m, run_backtest(m, only, final=final), only, H, cache=final)
    assert models["lightgbm"] is final["lightgbm"][0]  # the final fit made ahead is the one used

    alone = run_backtest(m, cfg(1))
    fc_alone, _ = forecast_champions(m, alone, cfg(1), H)
    pd.testing.assert_frame_equal(together.scores, alone.scores)
    pd.testing.assert_frame_equal(fc_together, fc_alone)

    # a catalogue whose fits would hold too many rows at once is fitted one at a time
    fits.clear()
    run_backtest(m, replace(cfg(2), concurrent_rows=100))
    assert fits == []  # no fit made ahead: each made in turn by the backtest itself

    def broken(*a, **k):
        raise RuntimeError("out of memory in a fit")

    monkeypatch.setattr(backtest, "_fit_one", broken)
    with pytest.raises(RuntimeError, match="out of memory"):
        run_backtest(m, cfg(2))


def test_a_terminal_shows_each_fit_moving_round_by_round(monkeypatch):
    """In the CLI on a terminal, each booster is a bar that moves every round and goes away when
    the fit ends."""
    from io import StringIO

    from rich.console import Console

    from stockwise import bars

    moved: list[str] = []
    advance = bars.Bar.advance

    def spy(self, n=1, note=None):
        moved.append(self.label)
        advance(self, n, note)

    monkeypatch.setattr(bars.Bar, "advance", spy)
    m = to_matrix(panel(n_days=120), "D")
    params = dict(horizon=7, rounds=4, quantile_rounds=2, quantiles=(0.1, 0.9), threads=1, min_data_in_leaf=5)
    with bars.shown(Console(file=StringIO(), force_terminal=False)):
        make("lightgbm", **params).fit(m)
        assert [t.description for t in bars._progress.tasks] == []  # every fit's bar removed when done
    mean = [x for x in moved if x.startswith("lightgbm regression model on data to 2025-04-30")]
    assert len(mean) == 4 and all(", " in x and " rows" in x for x in mean)
    assert sum(x.startswith("lightgbm P10 model") for x in moved) == 2
    assert not bars.active()


def test_training_rows_and_season_means_built_in_blocks_equal_their_one_grid_definitions():
    """The fit's examples are built a block of series at a time in int32, and the season mean
    without its stack of shifted copies (memory at 20,000 series): the same rows in the same
    order, the same numbers to the last bit, so the same model."""
    from stockwise_training.forecast.models.lgbm import _season_mean, _training_rows

    rng = np.random.default_rng(1)
    S, T, H = 1234, 200, 28
    obs = rng.poisson(2, (S, T)).astype(float)
    obs[rng.random((S, T)) < 0.1] = np.nan  # censored
    qty = obs.copy()
    qty[:, :50][rng.random((S, 50)) < 0.5] = np.nan  # not started yet
    origins = np.arange(T - 1 - H, 6, -7)
    grid = np.meshgrid(np.arange(S), origins, np.arange(1, H + 1), indexing="ij")
    s, o, t = grid[0].ravel(), grid[1].ravel(), (grid[1] + grid[2]).ravel()
    keep = ~np.isnan(obs[s, t]) & ~np.isnan(qty[s, o])
    every = (s[keep], o[keep], t[keep], obs[s, t][keep])
    *rows, n = _training_rows(obs, qty, origins, H, block=500)
    assert n == len(every[0]) and all(np.array_equal(w, g) for w, g in zip(every, rows, strict=True))

    # sampled (max_rows): only the sampled rows are built, and they are those the whole set
    # sampled afterwards gives (the sample's definition, as it was, below)
    def recent_first(o, n, half_age, seed):
        age = np.unique(o, return_inverse=True)[1]
        w = 1.0 / (1.0 + (age.max() - age) / half_age)
        lo, hi = 0.0, 1.0 / w.min()
        for _ in range(50):
            c = (lo + hi) / 2
            lo, hi = (c, hi) if np.minimum(1.0, c * w).sum() < n else (lo, c)
        return np.flatnonzero(np.random.default_rng(seed).random(len(o)) < np.minimum(1.0, hi * w))

    pick = recent_first(every[1].astype(np.int64), 20_000, 26.0, 3)
    *rows, n = _training_rows(obs, qty, origins, H, block=500, max_rows=20_000, half_age=26.0, seed=3)
    assert n == len(every[0]) and 19_000 < len(rows[0]) < 21_000
    assert all(np.array_equal(w[pick], g) for w, g in zip(every, rows, strict=True))

    for season, n in ((7, 8), (12, 8), (52, 8)):
        stack = np.full((n, S, T), np.nan)
        for j in range(n):
            if j * season < T:
                stack[j, :, j * season :] = obs[:, : T - j * season]
        cnt = (~np.isnan(stack)).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            want = np.where(cnt > 0, np.nansum(stack, axis=0) / cnt, np.nan)
        assert np.array_equal(_season_mean(obs, season, n), want, equal_nan=True)
