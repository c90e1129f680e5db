"""Metrics against hand-computed values and against the reference scorer's definitions."""

import numpy as np
import pytest

from stockwise_training.forecast import metrics
from stockwise_training.forecast.backtest import BacktestConfig, cutoff_dates
from stockwise_training.forecast.panel import to_matrix


def test_scales_skip_leading_zeros_and_gaps():
    y = np.array([[0, 0, 2, 4, np.nan, 4, 1]], dtype=float)
    s1, s2 = metrics.scales(y)
    # from the first non-zero: 2,4,nan,4,1 -> observed consecutive diffs: +2, -3
    assert s1[0] == pytest.approx(2.5)
    assert s2[0] == pytest.approx((4 + 9) / 2)


def test_rmsse_mase_wrmsse_bias_by_hand():
    train = np.array([[1, 2, 3, 4], [2, 2, 4, 4]], dtype=float)  # scale2: 1 and 4/3; scale1: 1 and 2/3
    actual = np.array([[4, 4], [4, 6]], dtype=float)
    fc = np.array([[5, 3], [4, 4]], dtype=float)
    w = np.array([1.0, 3.0])
    res, per = metrics.evaluate(actual, fc, train, w)
    r1 = np.sqrt(((1 + 1) / 2) / 1.0)
    r2 = np.sqrt(((0 + 4) / 2) / (4 / 3))
    assert per["rmsse"].tolist() == pytest.approx([r1, r2])
    assert res["WRMSSE"] == pytest.approx(0.25 * r1 + 0.75 * r2)
    assert per["mase"].tolist() == pytest.approx([1.0, 1.0 / (2 / 3)])
    assert res["WAPE"] == pytest.approx(4 / 18)
    assert res["bias_pct"] == pytest.approx(-2 / 18 * 100)


def test_coverage_and_pinball():
    train = np.array([[1, 2, 3, 4]], dtype=float)
    actual = np.array([[1.0, 5.0, 3.0, 10.0]])
    mean = np.full((1, 4), 3.0)
    q = np.stack([np.full((1, 4), v) for v in (0.5, 2.0, 3.0, 6.0, 8.0)], axis=-1)
    res, _ = metrics.evaluate(actual, mean, train, np.ones(1), q, (0.025, 0.1, 0.5, 0.9, 0.975))
    assert res["coverage_80"] == pytest.approx(0.5)  # 5 and 3 inside [2, 6]
    assert res["coverage_95"] == pytest.approx(0.75)
    assert metrics.pinball(np.array([10.0]), np.array([8.0]), 0.9)[0] == pytest.approx(1.8)
    assert metrics.pinball(np.array([6.0]), np.array([8.0]), 0.9)[0] == pytest.approx(0.2)


def test_censored_actuals_are_not_scored():
    train = np.array([[1, 2, 3, 4]], dtype=float)
    res, _ = metrics.evaluate(np.array([[np.nan, 4.0]]), np.array([[100.0, 4.0]]), train, np.ones(1))
    assert res["WRMSSE"] == 0.0


def test_cutoffs_step_back_one_horizon():
    import pandas as pd

    p = pd.DataFrame({"sku": "A", "location_id": "L", "date": pd.date_range("2025-01-01", periods=100), "qty": 1.0})
    m = to_matrix(p, "D")
    cuts = cutoff_dates(m, 28, 3)
    # the last date is 2025-04-10; each cutoff leaves exactly one horizon after it
    assert [c.date().isoformat() for c in cuts] == ["2025-01-16", "2025-02-13", "2025-03-13"]
    assert len(m.upto(cuts[0]).dates) == 16 and m.upto(cuts[0]).dates[-1] == cuts[0]
    assert BacktestConfig().cutoffs >= 3


def test_a_worse_challenger_is_not_promoted():
    from stockwise.registry import ANOMALY, DEMAND, decide

    assert decide(DEMAND, 0.95, 0.90, 0.02) == (False, "challenger WRMSSE 0.9500 does not beat champion 0.9000 by 2%")
    assert decide(DEMAND, 0.89, 0.90, 0.02)[0] is False  # better, but not by the margin
    assert decide(DEMAND, 0.80, 0.90, 0.02)[0] is True
    assert decide(DEMAND, 1.50, None, 0.02) == (True, "no champion yet")
    # higher-is-better scores are compared as errors: F1 0.90 -> 0.92 cuts the error 0.10 -> 0.08
    assert decide(ANOMALY, 0.92, 0.90, 0.02)[0] is True
    assert decide(ANOMALY, 0.901, 0.90, 0.02)[0] is False


def test_interval_widths_fit_zero_heavy_counts_and_stretch_narrow_intervals():
    from stockwise_training.forecast.backtest import INTERVALS, apply_widths, fit_widths

    rng = np.random.default_rng(1)
    n, h = 400, 12
    # counts with 70% zeros: P10 at 0 and a P90 of 3.2 cover every zero and every count up
    # to 3 (about 90%, not 80%): on counts, coverage moves in steps
    actual = np.where(rng.random((n, h)) < 0.7, 0.0, rng.poisson(2.0, (n, h)) + 1.0)
    q_wide = np.broadcast_to(np.array([0.0, 0.0, 0.0, 3.2, 5.5]), (n, h, 5)).copy()
    # a smooth segment whose intervals are too narrow (they cover about half)
    smooth = rng.normal(50, 10, (n, h))
    q_narrow = np.broadcast_to(np.array([45.0, 47.0, 50.0, 53.0, 55.0]), (n, h, 5)).copy()
    codes = np.repeat([0, 1], n)
    pairs = [(np.vstack([actual, smooth]), np.vstack([q_wide, q_narrow]))]
    w = fit_widths(pairs, codes, 2)
    assert w.shape == (2, len(INTERVALS))
    assert w[0, 0] < 1 < w[1, 0] and w[1, 1] > 1  # shrink the over-covering, stretch the narrow
    q = apply_widths(np.vstack([q_wide, q_narrow]), codes, w)
    assert (np.diff(q, axis=-1) >= 0).all() and (q >= 0).all()
    for seg, a in ((0, actual), (1, smooth)):
        qq = q[codes == seg]
        for j, (lo, hi, nominal) in enumerate(INTERVALS):
            cov = np.mean((a >= qq[..., lo]) & (a <= qq[..., hi]))
            assert abs(cov - nominal) < 0.03, (seg, nominal, cov)
    np.testing.assert_allclose(q[codes == 1][..., 2], 50.0)  # the median is never moved
