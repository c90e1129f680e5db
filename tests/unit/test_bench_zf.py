"""`bench/zf.py`, the Zheng-Federgruen (s, S) search with a lead time that the network bench
compares with: it finds the textbook's optimum and every (s, S) of a grid costs at least as much."""

import importlib.util
from pathlib import Path

import numpy as np
from scipy import stats

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("zf", REPO / "bench" / "zf.py")
zf = importlib.util.module_from_spec(spec)
spec.loader.exec_module(zf)


def _pois(mean: float, n: int = 60) -> np.ndarray:
    f = stats.poisson(mean).pmf(np.arange(n))
    return f / f.sum()


def test_zero_lead_time_gives_the_textbooks_optimum():
    # Snyder & Shen, Fundamentals of Supply Chain Theory, Example 4.7 (stockpyl's doctest):
    # Poisson(6) demand, h = 1, p = 4, K = 5: (s, S) = (4, 10) at 8.034 a period
    s, S, g = zf.optimal_sS(_pois(6), _pois(6), 1.0, 4.0, 5.0)
    assert (s, S) == (4, 10) and abs(g - 8.034111561471642) < 1e-6


def test_with_a_lead_time_no_policy_of_a_grid_costs_less():
    f_per, f_lead = _pois(3), _pois(3 * 5, 90)  # a period's demand and the lead time + a period's
    s, S, g = zf.optimal_sS(f_per, f_lead, 1.0, 9.0, 20.0)
    cst = zf._Costs(f_per, f_lead, 1.0, 9.0, 20.0)
    grid = min(cst.c(a, b) for a in range(-5, 40) for b in range(a + 1, 60))
    assert abs(g - grid) < 1e-9 and abs(cst.c(s, S) - g) < 1e-12
    assert s > 3 * 4  # it protects the lead time's demand, unlike the zero-lead-time answer
    s0, _, _ = zf.optimal_sS(f_per, f_per, 1.0, 9.0, 20.0)
    assert s0 < s


def test_item_levels_grow_with_the_penalty_and_bucket_fast_movers():
    lo = zf.item_levels(40.0, 15.0, 7 / 3, 1.0, 0.3, 0.001, 4.0, 1.0)
    hi = zf.item_levels(40.0, 15.0, 7 / 3, 1.0, 0.3, 0.001, 99.0, 1.0)
    assert hi[0] > lo[0] and hi[1] > lo[1] > lo[0]
    assert zf.item_levels(0.0, 0.0, 7.0, 5.0, 1.0, 0.01, 9.0, 1.0) == (-1.0, 0.0)
