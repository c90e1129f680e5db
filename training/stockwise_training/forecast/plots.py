"""Backtest plots for reviewers in the MLflow UI (matplotlib, no fonts downloaded)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def fan_charts(history: pd.DataFrame, forecast: pd.DataFrame, n: int = 6, seed: int = 0):
    """Actuals and the forecast's 80%/95% bands for a sample of series (largest volume first)."""
    plt = _plt()
    vol = history.groupby(["sku", "location_id"])["qty"].sum().sort_values(ascending=False)
    rng = np.random.default_rng(seed)
    picks = list(vol.index[: n // 2]) + [
        vol.index[i] for i in rng.choice(len(vol), min(n - n // 2, len(vol)), replace=False)
    ]
    fig, axes = plt.subplots(len(picks), 1, figsize=(9, 2.2 * len(picks)), squeeze=False)
    for ax, (sku, loc) in zip(axes[:, 0], picks, strict=False):
        h = history[(history["sku"] == sku) & (history["location_id"] == loc)].tail(120)
        f = forecast[(forecast["sku"] == sku) & (forecast["location_id"] == loc)]
        ax.plot(h["date"], h["qty"], color="#52606d", lw=1, label="actual")
        if "actual" in f:
            ax.plot(f["date"], f["actual"], color="#52606d", lw=1)
        ax.fill_between(f["date"], f["p2_5"], f["p97_5"], color="#2680c2", alpha=0.15, label="95%")
        ax.fill_between(f["date"], f["p10"], f["p90"], color="#2680c2", alpha=0.3, label="80%")
        ax.plot(f["date"], f["mean"], color="#2680c2", lw=1.5, label="forecast")
        ax.set_title(f"{sku} @ {loc} ({f['model'].iloc[0] if len(f) else ''})", fontsize=9)
    axes[0, 0].legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


def error_by_segment(scores: pd.DataFrame, metric: str = "WRMSSE"):
    plt = _plt()
    s = scores[scores["grouping"] == "demand_class"].groupby(["segment", "model"])[metric].mean().unstack()
    fig, ax = plt.subplots(figsize=(9, 4))
    s.plot.bar(ax=ax)
    ax.set_ylabel(f"{metric} (mean over cutoffs)")
    ax.set_title(f"Backtest {metric} by demand segment and model")
    fig.tight_layout()
    return fig


def feature_importance(importance: pd.Series, top: int = 20):
    plt = _plt()
    imp = importance.head(top).iloc[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(imp) + 1))
    ax.barh(imp.index, imp.to_numpy(), color="#3ebd93")
    ax.set_xlabel("gain")
    ax.set_title("LightGBM feature importance")
    fig.tight_layout()
    return fig
