"""The time grids Stockwise forecasts on, checked once, up front.

A history's frequency comes from the mapping (`options.freq`, a pandas alias) or is inferred
from its dates. Supported: daily (`D`), weekly anchored on any weekday (`W-MON` .. `W-SUN`; `W`
is `W-SUN`, as in pandas), monthly on the first or the last day (`MS`, `ME`; `M` is `ME`) and
quarterly likewise (`QS`, `QE`, any anchor month; `Q` is `QE`). Each frequency brings the
defaults the feature job and the models need: the season length, the lags and rolling windows
of the feature panel, a "recent" window and the stride between training origins.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import pandas as pd

from stockwise.errors import ConfigError, ExtractError

SUPPORTED = (
    "D (daily); W-MON..W-SUN (weekly, anchored on a weekday; W = W-SUN); "
    "MS or ME (monthly, first or last day; M = ME); QS or QE (quarterly, any anchor month; Q = QE)"
)


@dataclass(frozen=True)
class Frequency:
    alias: str  # the pandas alias, normalised (W-FRI, MS, ME, QS-JAN, QE-DEC, D)
    kind: str  # D, W, M or Q
    season: int  # periods per season: a week of days, a year of weeks, months or quarters
    lags: tuple[int, ...]  # lags of the feature panel, in periods
    windows: tuple[int, ...]  # rolling-mean windows of the feature panel, in periods
    recent: int  # "recent demand": four weeks of days, else one season
    stride: int  # periods between LightGBM training origins

    @property
    def offset(self) -> pd.DateOffset:
        return pd.tseries.frequencies.to_offset(self.alias)

    def describe(self) -> str:
        return {"D": "daily", "W": "weekly", "M": "monthly", "Q": "quarterly"}[self.kind] + f" ({self.alias})"


# kind -> (season, lags, rolling windows, recent window, origin stride)
_KINDS: dict[str, tuple[int, tuple[int, ...], tuple[int, ...], int, int]] = {
    "D": (7, (1, 7, 14, 28), (7, 28, 56, 112), 28, 7),
    "W": (52, (1, 2, 4, 13, 52), (4, 13, 26, 52), 52, 1),
    "M": (12, (1, 2, 3, 12), (3, 6, 12), 12, 1),
    "Q": (4, (1, 2, 4), (2, 4, 8), 4, 1),
}


def parse(freq: str | None) -> Frequency:
    """The `Frequency` of a pandas alias, or a ConfigError that lists what is supported."""
    if not isinstance(freq, str) or not freq.strip():
        raise ConfigError(f"freq {freq!r}: give a pandas frequency alias; supported: {SUPPORTED}")
    raw = freq.strip()
    # pandas 2.2 renamed month/quarter ends (M -> ME, Q -> QE); accept both without its warning
    alias = re.sub(r"^(M|Q|BM|BQ)(-[A-Z]{3})?$", lambda m: f"{m.group(1)}E{m.group(2) or ''}", raw.upper())
    alias = "D" if alias in ("1D", "DAY", "DAILY") else alias
    try:
        with warnings.catch_warnings():  # pandas' renaming notices: the alias is judged below
            warnings.simplefilter("ignore", FutureWarning)
            off = pd.tseries.frequencies.to_offset(alias)
    except ValueError:
        raise ConfigError(f"freq {raw!r} is not a pandas frequency; supported: {SUPPORTED}") from None
    kind = _kind(off)
    if kind is None or getattr(off, "n", 1) != 1:
        raise ConfigError(f"freq {raw!r} ({off.freqstr}) is not supported; supported: {SUPPORTED}")
    season, lags, windows, recent, stride = _KINDS[kind]
    return Frequency(off.freqstr, kind, season, lags, windows, recent, stride)


def _kind(off: pd.DateOffset) -> str | None:
    from pandas.tseries import offsets as o

    if isinstance(off, o.Day):
        return "D"
    if isinstance(off, o.Week) and off.weekday is not None:
        return "W"
    if isinstance(off, (o.MonthBegin, o.MonthEnd)):
        return "M"
    if isinstance(off, (o.QuarterBegin, o.QuarterEnd)):
        return "Q"
    return None


def infer(dates: pd.Series | pd.DatetimeIndex, what: str = "the history") -> Frequency:
    """The frequency of a history's dates: pandas' inference on the distinct dates, else the
    most common step between them (a history with gaps), checked against the supported grids."""
    d = pd.DatetimeIndex(pd.to_datetime(pd.Series(dates)).dropna().unique()).sort_values()
    if len(d) < 3:
        raise ConfigError(f"{what}: {len(d)} distinct date(s), too few to infer a frequency; set options.freq")
    guess = pd.infer_freq(d)
    if guess is None:
        step = pd.Series(d[1:] - d[:-1]).mode().iloc[0].days
        if step == 1:
            guess = "D"
        elif step == 7:
            guess = f"W-{d[0].day_name()[:3].upper()}"
        elif 28 <= step <= 31:
            guess = "MS" if (d.day == 1).all() else "ME" if d.is_month_end.all() else None
        elif 89 <= step <= 92:
            guess = "QS" if (d.day == 1).all() else "QE" if d.is_month_end.all() else None
    if guess is None:
        raise ConfigError(f"{what}: cannot infer a supported frequency from its dates; set options.freq ({SUPPORTED})")
    return parse(guess)


def check_grid(dates: pd.Series, f: Frequency, what: str) -> None:
    """Every date must lie on the frequency's grid (a Friday for W-FRI, the 1st for MS, ...):
    an ExtractError names the file or extract, how many rows are off and the first few."""
    d = pd.Series(pd.to_datetime(dates))
    off = f.offset
    wrong = [x for x in pd.DatetimeIndex(d.dropna().unique()) if x != x.normalize() or not off.is_on_offset(x)]
    if not wrong:
        return
    bad = d[d.isin(wrong)]
    first = ", ".join(f"row {i}: {v.date()} ({v.day_name()})" for i, v in bad.head(3).items())
    raise ExtractError(
        f"{what}: {len(bad):,} of {len(d):,} rows have a date off the {f.describe()} grid ({first}); "
        f"fix options.freq in the mapping or the dates"
    )
