"""The feature panel as [series, period] matrices, and the series' demand classes."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import pyarrow as pa

KEYS = ["sku", "location_id"]
QUANTILES = (0.025, 0.1, 0.5, 0.9, 0.975)
QCOLS = ("p2_5", "p10", "p50", "p90", "p97_5")


def offset(freq: str) -> pd.DateOffset:
    return pd.tseries.frequencies.to_offset(freq)


@dataclass
class Matrix:
    """Aligned matrices over all series and periods of a panel (NaN where a series has no row)."""

    keys: pd.DataFrame
    dates: pd.DatetimeIndex
    freq: str
    cols: dict[str, np.ndarray]

    @property
    def y(self) -> np.ndarray:
        return self.cols["qty"]

    @property
    def observed(self) -> np.ndarray:
        """Demand as observed: NaN before a series starts and on stockout (censored) periods."""
        y = self.cols["qty"].copy()
        y[self.cols["stockout"] > 0] = np.nan
        return y

    def upto(self, cutoff: pd.Timestamp) -> Matrix:
        n = int(np.searchsorted(self.dates, cutoff, side="right"))
        return Matrix(self.keys, self.dates[:n], self.freq, {k: v[:, :n] for k, v in self.cols.items()})

    def key_index(self) -> pd.MultiIndex:
        return pd.MultiIndex.from_frame(self.keys)


def to_matrix(panel: pd.DataFrame, freq: str, columns: list[str] | None = None) -> Matrix:
    """Pivot a long panel (sku, location_id, date, qty, stockout, ...) into matrices."""
    # the panel itself is not copied (a copy of a 20,000-series panel is 6 GB)
    day = pd.to_datetime(panel["date"])
    stockout = panel["stockout"].astype(float) if "stockout" in panel else pd.Series(0.0, index=panel.index)
    dates = pd.date_range(day.min(), day.max(), freq=freq)
    keys = panel[KEYS].drop_duplicates().sort_values(KEYS).reset_index(drop=True)
    s_idx = pd.MultiIndex.from_frame(keys).get_indexer(pd.MultiIndex.from_frame(panel[KEYS]))
    t_idx = dates.get_indexer(day)
    if (t_idx < 0).any():
        raise ValueError(f"panel dates are not on a regular {freq} grid")
    numeric = [c for c in panel.columns if c not in KEYS + ["date"] and pd.api.types.is_numeric_dtype(panel[c])]
    wanted = list(dict.fromkeys(["qty", "stockout", *(columns or numeric)]))
    cols = {}
    for c in wanted:
        m = np.full((len(keys), len(dates)), np.nan)
        src = stockout if c == "stockout" else panel[c]
        m[s_idx, t_idx] = pd.to_numeric(src, errors="coerce").astype(float).to_numpy()
        cols[c] = m
    return Matrix(keys, dates, freq, cols)


def matrix_from_parts(
    parts: Callable[[list[str] | None], Iterable[pa.Table]],
    freq: str,
    schema: pa.Schema,
    keep: Callable[[str], bool] | None = None,
) -> Matrix:
    """`to_matrix` of a panel stored in parts (`parts(columns)` yields Arrow tables, e.g.
    `catalog.panel_parts`; `schema`, the parts' columns), built a part and a column at a time:
    the matrices equal `to_matrix` of the whole panel read into pandas, without holding that
    frame (a long panel of 20,000 series x 2 years is 5 GB in pandas and 2.3 times that while
    read) nor a Python string per row (rows are matched to series by Arrow). `keep(column)`:
    the numeric columns wanted besides qty and stockout (default: all)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    pairs, lo, hi = [], None, None
    for t in parts([*KEYS, "date"]):  # first pass: the series and the date range
        pairs.append(t.group_by(KEYS).aggregate([]).select(KEYS))
        if t.num_rows:
            mm = pc.min_max(t.column("date"))
            lo = mm["min"].as_py() if lo is None else min(lo, mm["min"].as_py())
            hi = mm["max"].as_py() if hi is None else max(hi, mm["max"].as_py())
    keys = pa.concat_tables(pairs).group_by(KEYS).aggregate([]).select(KEYS).to_pandas()
    keys = keys.sort_values(KEYS).reset_index(drop=True)
    dates = pd.date_range(lo, hi, freq=freq)
    # a row's series: its sku's and location's positions among the distinct values, then a grid
    values = {k: pd.Index(keys[k].unique()) for k in KEYS}
    grid = np.full([len(v) for v in values.values()], -1, dtype=np.int64)
    grid[tuple(values[k].get_indexer(keys[k]) for k in KEYS)] = np.arange(len(keys))
    lookup = {k: pa.array(v.to_numpy(dtype=object), pa.string()) for k, v in values.items()}
    numeric = [
        f.name
        for f in schema
        if f.name not in (*KEYS, "date")
        and (pa.types.is_integer(f.type) or pa.types.is_floating(f.type) or pa.types.is_boolean(f.type))
        and (keep is None or keep(f.name))
    ]
    wanted = list(dict.fromkeys(["qty", "stockout", *numeric]))
    cols = {c: np.full((len(keys), len(dates)), np.nan) for c in wanted}
    for t in parts([*KEYS, "date", *(c for c in wanted if c in schema.names)]):  # second pass: the values
        codes = tuple(pc.index_in(t.column(k), value_set=lookup[k]).to_numpy(zero_copy_only=False) for k in KEYS)
        s_idx = grid[codes]
        t_idx = dates.get_indexer(pd.DatetimeIndex(t.column("date").to_numpy()))
        if (t_idx < 0).any():
            raise ValueError(f"panel dates are not on a regular {freq} grid")
        for c in wanted:
            if c in t.column_names:
                cols[c][s_idx, t_idx] = pc.cast(t.column(c), pa.float64()).to_numpy(zero_copy_only=False)
            elif c == "stockout":  # a panel without stockout flags: never out of stock
                cols[c][s_idx, t_idx] = 0.0
    return Matrix(keys, dates, freq, cols)


def demand_classes(y: np.ndarray, min_periods: int) -> np.ndarray:
    """Syntetos-Boylan classes from ADI and CV² of the non-zero demands (leading zeros trimmed).

    'new' for series with fewer than `min_periods` observed periods, 'inactive' for no demand.
    """
    out = np.empty(y.shape[0], dtype=object)
    for i, row in enumerate(y):
        obs = row[~np.isnan(row)]
        nz = np.flatnonzero(obs > 0)
        if not len(nz):
            out[i] = "inactive"
            continue
        obs = obs[nz[0] :]
        if len(obs) < min_periods:
            out[i] = "new"
            continue
        pos = obs[obs > 0]
        adi = len(obs) / len(pos)
        cv2 = (pos.std() / pos.mean()) ** 2 if len(pos) > 1 else 0.0
        out[i] = ("smooth" if cv2 < 0.49 else "erratic") if adi < 1.32 else ("intermittent" if cv2 < 0.49 else "lumpy")
    return out


def future_dates(last: pd.Timestamp, horizon: int, freq: str) -> pd.DatetimeIndex:
    return pd.date_range(last + offset(freq), periods=horizon, freq=freq)


def long_forecast(
    keys: pd.DataFrame, dates: pd.DatetimeIndex, mean: np.ndarray, q: np.ndarray | None, model: str
) -> pd.DataFrame:
    """[series, horizon] arrays -> the long forecast frame (quantiles sorted, non-negative)."""
    h = len(dates)
    out = pd.DataFrame(
        {
            "sku": np.repeat(keys["sku"].to_numpy(), h),
            "location_id": np.repeat(keys["location_id"].to_numpy(), h),
            "date": np.tile(dates.to_numpy(), len(keys)),
            "mean": np.maximum(mean, 0).ravel(),
        }
    )
    if q is not None:
        qs = np.sort(np.maximum(q, 0), axis=-1)
        for j, c in enumerate(QCOLS):
            out[c] = qs[..., j].ravel()
    out["model"] = model
    return out


def abc_xyz(y: np.ndarray, value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ABC by share of value (A: the top 80%, B: the next 15%, C: the rest) and XYZ by the
    coefficient of variation of observed demand (X < 0.5 <= Y < 1.0 <= Z)."""
    order = np.argsort(-value)
    share = np.cumsum(value[order]) / max(value.sum(), 1e-9)
    abc = np.empty(len(value), dtype=object)
    abc[order] = np.where(share <= 0.8, "A", np.where(share <= 0.95, "B", "C"))
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        cv = np.nanstd(y, axis=1) / np.nanmean(y, axis=1)
    xyz = np.where(cv < 0.5, "X", np.where(cv < 1.0, "Y", "Z")).astype(object)
    return abc, xyz
