"""Frequencies are parsed, inferred and checked up front, with errors that list what is supported."""

import pandas as pd
import pytest

from stockwise import frequency
from stockwise.erp.mapping import load_mapping
from stockwise.errors import ConfigError, ExtractError


@pytest.mark.parametrize(
    ("alias", "canonical", "kind", "season"),
    [
        ("D", "D", "D", 7),
        ("W", "W-SUN", "W", 52),
        ("W-FRI", "W-FRI", "W", 52),
        ("w-thu", "W-THU", "W", 52),
        ("MS", "MS", "M", 12),
        ("M", "ME", "M", 12),  # pandas' old month-end alias, without its FutureWarning
        ("Q", "QE-DEC", "Q", 4),
        ("QS-JAN", "QS-JAN", "Q", 4),
    ],
)
def test_supported_aliases(alias, canonical, kind, season):
    f = frequency.parse(alias)
    assert (f.alias, f.kind, f.season) == (canonical, kind, season)
    assert max(f.lags) <= f.season * 4 and f.windows[0] < f.windows[-1]


@pytest.mark.parametrize("alias", ["H", "2D", "B", "nonsense", "", None])
def test_unsupported_aliases_list_what_is_supported(alias):
    with pytest.raises(ConfigError, match=r"supported: D \(daily\); W-MON..W-SUN"):
        frequency.parse(alias)


@pytest.mark.parametrize("freq", ["D", "W-FRI", "W-TUE", "MS", "ME", "QS-JAN"])
def test_inferred_from_dates_even_with_gaps(freq):
    dates = pd.date_range("2020-01-01", periods=40, freq=freq).delete([3, 4, 10, 11, 12])
    assert frequency.infer(pd.Series(dates)).alias == frequency.parse(freq).alias


def test_off_grid_dates_are_named():
    dates = pd.Series(pd.to_datetime(["2024-01-05", "2024-01-12", "2024-01-18", "2024-01-26"]))
    frequency.check_grid(dates[[0, 1, 3]], frequency.parse("W-FRI"), "sales.csv")
    with pytest.raises(ExtractError, match=r"sales.csv: 1 of 4 rows .* weekly \(W-FRI\) grid \(row 2: 2024-01-18"):
        frequency.check_grid(dates, frequency.parse("W-FRI"), "sales.csv")


def test_mapping_with_an_unsupported_freq_fails_at_load(tmp_path):
    p = tmp_path / "m.yaml"
    p.write_text("options: {freq: 15min}\nextracts:\n  sales: {file: s.csv}\n")
    with pytest.raises(ConfigError, match=r"m.yaml: options.freq '15min'.*not supported"):
        load_mapping(p)


def test_a_history_that_lists_only_sales_is_flagged_and_gaps_are_checked(tmp_path, caplog):
    """Files that list only what sold read gaps as 'not observed' by default: say so, and let
    `options.gaps: zero` read them as no sale; anything else is refused."""
    import logging

    from stockwise_training.forecast.job import gaps_of

    only_sales = pd.DataFrame({"qty": [3.0, 1.0, 5.0]})
    p = tmp_path / "m.yaml"
    p.write_text("extracts:\n  sales: {file: s.csv}\n")
    with caplog.at_level(logging.WARNING):
        assert gaps_of(load_mapping(p), only_sales) == "missing"
    assert "set options.gaps: zero" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert gaps_of(load_mapping(p), pd.DataFrame({"qty": [0.0, 2.0]})) == "missing"
    assert not caplog.text
    p.write_text("options: {gaps: zero}\nextracts:\n  sales: {file: s.csv}\n")
    assert gaps_of(load_mapping(p), only_sales) == "zero"
    p.write_text("options: {gaps: sometimes}\nextracts:\n  sales: {file: s.csv}\n")
    with pytest.raises(ConfigError, match="options.gaps must be 'missing' or 'zero'"):
        gaps_of(load_mapping(p), only_sales)
