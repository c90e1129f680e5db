"""Run the committed suites on a batch; quarantine what fails; build Data Docs."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stockwise.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


@dataclass
class BatchResult:
    extract: str
    success: bool
    rows: int
    failures: list[dict[str, Any]]
    result_json: dict[str, Any]
    newest: str | None = None  # the newest date of a time-bound extract (the plan's "data as of")


def newest_date(name: str, df: pd.DataFrame) -> str | None:
    """The newest date in a time-bound extract's date column, None for master data."""
    import pandas as pd

    from stockwise.erp.schema import EXTRACTS

    col = EXTRACTS[name].date_column if name in EXTRACTS else None
    if not col or col not in df or not len(df):
        return None
    top = pd.to_datetime(df[col], errors="coerce").max()
    return None if pd.isna(top) else str(top.date())


@dataclass
class GateRun:
    results: dict[str, BatchResult] = field(default_factory=dict)
    docs_files: dict[str, bytes] = field(default_factory=dict)


def load_suite(gx_dir: Path, name: str):
    import great_expectations as gx

    path = gx_dir / "expectations" / f"{name}.json"
    if not path.is_file():
        raise ConfigError(f"no expectation suite for extract '{name}' at {path} (run `stockwise gx-suites`)")
    return gx.ExpectationSuite(**json.loads(path.read_text()))


def suite_parameters(ds: date, extracts: Mapping[str, pd.DataFrame], freshness_lag_days: int = 1) -> dict[str, Any]:
    import pandas as pd

    from stockwise.validation import suites

    def known(name: str, col: str) -> list[str]:
        df = extracts.get(name)
        return sorted(df[col].dropna().astype(str).unique().tolist()) if df is not None else []

    return {
        suites.RUN_END: pd.Timestamp(ds + timedelta(days=1)),
        suites.FRESH_SINCE: pd.Timestamp(ds - timedelta(days=freshness_lag_days)),
        suites.KNOWN_SKUS: known("items", "sku"),
        suites.KNOWN_LOCATIONS: known("locations", "location_id"),
        suites.KNOWN_SUPPLIERS: known("suppliers", "supplier_id"),
    }


def contract_failures(name: str, df: pd.DataFrame) -> list[dict[str, Any]]:
    """Values the connector could not type (text in a quantity, a date that is no date) and
    infinities, with the rows at fault: GX would only say the column's type is wrong."""
    import numpy as np
    import pandas as pd

    from stockwise.erp.schema import EXTRACTS

    out = []
    for col, kind in EXTRACTS[name].columns.items():
        if col not in df.columns:
            continue
        s = df[col]
        bad = None
        if kind in ("float", "int") and not pd.api.types.is_numeric_dtype(s):
            bad, why = s.notna() & pd.to_numeric(s, errors="coerce").isna(), f"values_parse_as_{kind}"
        elif kind in ("date", "datetime") and not pd.api.types.is_datetime64_any_dtype(s):
            bad, why = s.notna() & pd.to_datetime(s, errors="coerce", format="mixed").isna(), f"values_parse_as_{kind}"
        elif kind in ("float", "int") and pd.api.types.is_float_dtype(s):
            bad, why = pd.Series(np.isinf(s.to_numpy()), index=s.index), "values_are_finite"
        if bad is not None and bool(bad.any()):
            rows = np.flatnonzero(bad.to_numpy())
            out.append(
                {
                    "expectation": f"stockwise_{why}",
                    "column": col,
                    "unexpected_count": int(len(rows)),
                    "observed": None,
                    "examples": [repr(v)[:60] for v in s.iloc[rows[:5]]],
                    "rows": [int(i) for i in rows[:10]],
                }
            )
    return out


def freshness_message(name: str, failure: dict[str, Any], ds: date, lag: int) -> str:
    """'sales end 2025-12-31, 334 days before the run date 2026-11-30 (at most 1 allowed)'."""
    import pandas as pd

    newest = failure.get("observed")
    day = None if newest is None else pd.to_datetime(newest, errors="coerce")
    if day is None or pd.isna(day):
        return f"{name} holds no rows up to the run date {ds}: nothing to plan from"
    day = day.date()
    return (
        f"{name} end {day}, {(ds - day).days} days before the run date {ds} "
        f"(at most {lag} day{'s' if lag != 1 else ''} allowed: STOCKWISE_FRESHNESS_LAG_DAYS)"
    )


def _failures(result) -> list[dict[str, Any]]:
    out = []
    for r in result.results:
        if r.success:
            continue
        cfg = r.expectation_config
        res = r.result or {}
        kwargs = cfg.kwargs or {}
        examples = res.get("partial_unexpected_list") or []
        mismatched = (res.get("details") or {}).get("mismatched")
        if isinstance(mismatched, dict):  # table-level column checks: what is missing or extra
            examples = [f"{k}: {v}" for k, v in mismatched.items() if v]
        if r.exception_info and r.exception_info.get("raised_exception"):
            examples = [r.exception_info.get("exception_message", "")[:200]]
        out.append(
            {
                "expectation": cfg.type,
                "column": (
                    kwargs.get("column")
                    or ",".join(kwargs.get("column_list") or [])
                    or ",".join(c for c in (kwargs.get("column_A"), kwargs.get("column_B")) if c)
                    or None
                ),
                "unexpected_count": res.get("unexpected_count"),
                "observed": res.get("observed_value"),
                "examples": [str(x) for x in examples[:5]],
                "rows": [int(i) for i in (res.get("partial_unexpected_index_list") or [])[:10]],
            }
        )
    return out


def validate(
    extracts: Mapping[str, pd.DataFrame],
    ds: date,
    gx_dir: Path,
    freshness_lag_days: int = 1,
) -> GateRun:
    """Validate every extract with its suite in an ephemeral context; render the results page.

    `extracts` may load each frame when it is asked for (the validate job's `RawExtracts`): the
    extracts are validated one after the other and none is kept, so only one sits in memory.

    **Decision: our own results page, not GX's Data Docs site.** GX's site writes unexpected
    values into its HTML as they are (a sku `<script>...` ran in the planner's browser) and loads
    its CSS and JavaScript from a CDN (blank offline). `validation.docs` renders the same results
    escaped, in one self-contained file; the full GX result JSON is kept with every quarantined
    batch for tools.
    """
    from great_expectations.data_context.types.base import ProgressBarsConfig

    import great_expectations as gx
    from stockwise.validation.docs import render

    params = suite_parameters(ds, extracts, freshness_lag_days)
    gate = GateRun()
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = ctx.data_sources.add_pandas("erp")
    for name, df in extracts.items():
        suite = ctx.suites.add(load_suite(gx_dir, name))
        batch_def = source.add_dataframe_asset(name).add_batch_definition_whole_dataframe(name)
        vd = ctx.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch_def, suite=suite))
        log.info("validating %s (%d rows, %d expectations)", name, len(df), len(suite.expectations))
        vres = vd.run(
            batch_parameters={"dataframe": df},
            expectation_parameters=params,
            result_format={
                "result_format": "SUMMARY",
                "partial_unexpected_count": 10,
                "include_unexpected_rows": False,
                "unexpected_index_column_names": None,
            },
        )
        failures = contract_failures(name, df) + _failures(vres)
        for f in failures:
            if f["expectation"] == "expect_column_max_to_be_between":
                f["message"] = freshness_message(name, f, ds, freshness_lag_days)
        gate.results[name] = BatchResult(
            name, bool(vres.success) and not failures, len(df), failures, vres.to_json_dict(), newest_date(name, df)
        )
        del df  # a lazily loaded extract goes before the next one comes
        if failures:
            log.warning("%s: %d expectation(s) failed", name, len(failures))
    gate.docs_files = {"index.html": render(gate.results, ds).encode()}
    return gate
