"""Every job Stockwise runs, declared once: the `stockwise.jobs` entry points in pyproject.toml.

A job is `fn(ds, settings=None, **params) -> small result`. The orchestration (Airflow tasks,
the CLI, `stockwise run`) finds jobs here by name, so the core never names a stage package,
and import-linter can hold the import direction (tests/unit/test_layers.py). Functions that
one stage hands to another (the feature job's panel builder for the backtest) are declared the
same way, in `stockwise.steps`.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from stockwise.errors import ConfigError

JOBS, STEPS = "stockwise.jobs", "stockwise.steps"

# the daily planning run, in order (the inventory_planning DAG and `stockwise run`)
PLANNING = ("extract", "validate", "build_features", "forecast", "detect_anomalies", "plan", "publish", "report")


def names(group: str = JOBS) -> list[str]:
    return sorted(ep.name for ep in entry_points(group=group))


def load(name: str, group: str = JOBS) -> Callable[..., Any]:
    found = entry_points(group=group, name=name)
    if not found:
        raise ConfigError(
            f"no {group} entry point named {name!r} (known: {names(group)}); is the package installed (`make install`)?"
        )
    return next(iter(found)).load()
