"""Textbook checks of the planning math."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import nbinom

from stockwise.planning.demand import PathParams, normal_interval, sample_interval
from stockwise.planning.distributions import count_quantile, k_for_fill_rate, normal_loss
from stockwise.planning.levels import from_normal, from_samples
from stockwise.planning.quantity import eoq


def test_eoq_textbook():
    # D = 1300 units/year, K = 8 per order, h = 0.225 per unit-year
    assert float(eoq(1300, 8, 0.225)) == pytest.approx(304.05, abs=0.005)


@pytest.mark.parametrize(("k", "g"), [(0.0, 0.3989), (0.5, 0.1978), (1.0, 0.0833), (1.5, 0.0293), (2.0, 0.0085)])
def test_normal_loss_matches_the_table(k, g):
    assert float(normal_loss(k)) == pytest.approx(g, abs=5e-5)


def test_fill_rate_safety_factor_from_the_loss_table():
    # beta = 98%, Q = 100, sigma_L = 24: G(k) = 0.02 * 100 / 24 = 0.0833 -> k = 1.00 in the table
    assert float(k_for_fill_rate(0.98, 100, 24)) == pytest.approx(1.00, abs=0.005)
    # beta = 99%, Q = 200, sigma = 68.4: G(k) = 0.0292 -> k = 1.50
    assert float(k_for_fill_rate(0.99, 200, 68.4)) == pytest.approx(1.50, abs=0.01)


def test_sigma_p_combines_demand_and_lead_time_variability():
    mean, sig = normal_interval(np.array([10.0]), np.array([3.0]), np.array([5.0]), np.array([1.0]), np.array([7.0]))
    # an order placed tonight with lead time 5 is on the shelf for day 5's sales: days 1-4 at risk, then 7
    assert mean[0] == 110
    assert sig[0] == pytest.approx(np.sqrt(11 * 9 + 100 * 1))


def test_normal_levels_cycle_service_and_fill_rate():
    m, s = np.array([120.0]), np.array([20.0])
    cyc = from_normal(m, s, 0.95, "cycle_service", np.array([100.0]), np.array([100.0]))
    assert cyc[0] == pytest.approx(120 + 1.6449 * 20, abs=0.01)
    # fill rate: ESC = sigma (G(k) - G(k + Q/sigma)) = (1 - beta) Q; beta 98%, Q 100, sigma 24 -> k = 1.00
    fr = from_normal(m, np.array([24.0]), 0.98, "fill_rate", np.array([100.0]), np.array([100.0]))
    assert fr[0] == pytest.approx(120 + 1.00 * 24, abs=0.15)


def test_slow_movers_use_count_quantiles():
    got = count_quantile(np.array([0.8, 2.0]), np.array([2.0, 2.0]), 0.95)
    n, p = 0.8**2 / 1.2, 0.8 / 2.0
    assert got[0] == nbinom.ppf(0.95, n, p)
    assert got[1] == 5  # Poisson(2) 95% quantile
    s = from_normal(np.array([0.8]), np.array([np.sqrt(2.0)]), 0.95, "cycle_service", np.array([1.0]), np.array([1.0]))
    assert s[0] == got[0]  # not 0.8 + 1.645 * 1.41 = 3.1 from the normal


def test_sample_paths_agree_with_the_normal_where_it_holds():
    mu = np.full((1, 60), 20.0)
    sd = np.full((1, 60), 6.0)
    _, d_p = sample_interval(
        mu, sd, np.array([6.0]), np.array([1.5]), np.array([7]), PathParams(n_paths=20000, level_cv=0.0, seed=1)
    )
    mean, sig = normal_interval(np.array([20.0]), np.array([6.0]), np.array([6.0]), np.array([1.5]), np.array([7.0]))
    assert d_p.mean() == pytest.approx(mean[0], rel=0.02)
    assert d_p.std() == pytest.approx(sig[0], rel=0.08)
    s = from_samples(d_p, 0.95, "cycle_service", np.array([140.0]), np.array([140.0]))
    assert s[0] == pytest.approx(mean[0] + 1.645 * sig[0], rel=0.03)


def test_fill_rate_from_samples_rises_with_the_target():
    rng = np.random.default_rng(0)
    d_p = rng.poisson(30, (3, 4000)).astype(np.float32)
    q = np.full(3, 50.0)
    s = from_samples(d_p, np.array([0.9, 0.95, 0.99]), "fill_rate", q, q)
    assert s[0] <= s[1] <= s[2]
    for target, level in zip([0.9, 0.95, 0.99], s, strict=True):
        esc = np.maximum(d_p[0] - level, 0).mean() - np.maximum(d_p[0] - level - 50, 0).mean()
        assert 1 - esc / 50 >= target - 1e-3


def test_the_fill_rate_optimisation_gives_the_same_levels_in_blocks_as_in_one_pass(monkeypatch):
    from stockwise.planning import levels

    rng = np.random.default_rng(3)
    n = 2_500  # three blocks of 1,024
    mu = rng.gamma(1.0, 3.0, n)
    d_p = rng.poisson(mu[:, None] * 10, (n, 200)).astype(float)
    q, cost = np.maximum(mu * 7, 1), rng.uniform(1, 50, n)
    args = (d_p, q, np.maximum(q, mu * 7), mu, cost, 0.95, np.full(n, 0.85), np.full(n, 0.995))
    s, fill = levels.optimize_fill(*args)
    monkeypatch.setattr(levels, "BLOCK", 10**9)
    s1, fill1 = levels.optimize_fill(*args)
    assert np.array_equal(s, s1) and np.array_equal(fill, fill1)
    assert (mu * fill).sum() / mu.sum() >= 0.95 - 1e-9


def test_the_interval_counts_the_days_an_order_placed_tonight_is_exposed_to():
    mu = np.full((2, 30), 1.0)
    d_l, d_p = sample_interval(
        mu, np.zeros((2, 30)), np.array([1.0, 4.0]), np.zeros(2), np.array([3, 3]), PathParams(n_paths=50, level_cv=0.0)
    )
    # lead time 1: received tomorrow before any sale, nothing at risk until the next review's order lands
    assert d_l.mean(axis=1) == pytest.approx([0.0, 3.0], abs=0.5)
    assert d_p.mean(axis=1) == pytest.approx([3.0, 6.0], abs=0.8)


def test_the_periodic_position_is_at_s_plus_q_after_every_review_when_q_is_below_a_reviews_demand():
    from stockwise.planning.levels import periodic_samples

    rng = np.random.default_rng(1)
    d_l = rng.poisson(20, (3, 2000)).astype(float)
    d_p = d_l + rng.poisson(70, (3, 2000))
    q = np.array([10.0, 700.0, 0.0])
    x_l, x_p = periodic_samples(d_l, d_p, q)
    w = x_p - d_p
    assert np.array_equal(w[0], np.zeros(2000)) and np.array_equal(w[2], np.zeros(2000))
    # Q of ten reviews: the position is spread evenly below S (renewal theory), never Q or more
    assert (w[1] < 700).all() and w[1].mean() == pytest.approx(350 - 70 / 2, rel=0.08)
    assert np.array_equal(x_p - x_l, d_p - d_l)  # one W per path for both intervals


def test_the_periodic_fill_model_delivers_its_target_in_a_replay_where_the_old_one_overshot():
    import pandas as pd

    from stockwise.planning.simulator import SimItems, SimParams, SimPolicy, simulate

    rng = np.random.default_rng(3)
    n, days = 120, 364
    rate = rng.uniform(2, 20, n)
    mu = np.repeat(rate[:, None], 42, 1)
    sd = np.sqrt(mu) * 1.3
    L, sL = np.full(n, 3.0), np.full(n, 0.5)
    mask = np.zeros((n, 7), bool)
    mask[:, 0] = True  # weekly reviews, Mondays
    d_l, d_p = sample_interval(mu, sd, L, sL, np.full(n, 7), PathParams(level_cv=0.0))
    shape = rate[:, None] ** 2 / (sd[:, :1] ** 2 - rate[:, None])
    demand = rng.poisson(rate[:, None] * rng.gamma(shape, 1 / shape, (n, days))).astype(float)
    items = SimItems(np.ones(n), np.ones(n) * 2, np.ones(n), np.zeros(n), L, sL, mask)
    dates = pd.date_range("2025-01-06", periods=days)
    q = rate * 14
    got = {}
    for name, dl in (("periodic", d_l), ("sQ", None)):
        s = from_samples(d_p, 0.95, "fill_rate", q, q, d_l=dl)
        got[name] = simulate(demand, dates, items, SimPolicy(name, s, s + q, q, "rsS", "nearest"), SimParams()).kpis
    assert 0.935 <= got["periodic"]["fill_rate"] <= 0.97
    assert got["sQ"]["fill_rate"] > 0.985  # the continuous-review model protects an (R, s, S) store twice over
    assert got["periodic"]["avg_inventory_value"] < 0.85 * got["sQ"]["avg_inventory_value"]


def test_the_safety_stock_of_a_periodic_policy_is_what_is_left_when_an_order_lands():
    from stockwise.planning.levels import periodic_safety_stock

    rng = np.random.default_rng(2)
    d_l = rng.poisson(30, (2, 4000)).astype(float)
    d_p = d_l + rng.poisson(10, (2, 4000))
    s = np.array([50.0, 50.0])
    ss = periodic_safety_stock(d_l, d_p, s, np.array([0.0, 60.0]))
    # (R, S): every review orders, the undershoot is a whole review's demand: S - E[D_{L+R}]
    assert ss[0] == pytest.approx(50 - 40, abs=0.5)
    # Q of six reviews: the position crosses s by about half a review's demand (and a bit: E[D_R^2] / 2E[D_R])
    assert 50 - 30 - 10 * 0.75 < ss[1] < 50 - 30 - 10 * 0.45
