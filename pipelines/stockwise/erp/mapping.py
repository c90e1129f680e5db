"""Mapping files: how a real ERP's tables, views or files become the canonical extracts."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from stockwise.erp.schema import EXTRACTS
from stockwise.errors import ConfigError


@dataclass(frozen=True)
class ExtractMapping:
    name: str
    table: str | None = None
    query: str | None = None
    file: str | list[str] | None = None  # glob(s), relative to the files connector's folder
    columns: dict[str, str] = field(default_factory=dict)  # canonical -> source column
    constants: dict[str, Any] = field(default_factory=dict)  # canonical -> fixed value
    date_format: str | None = None


@dataclass(frozen=True)
class CovariatesMapping:
    """Known-in-advance covariates per series and date (planned prices, events, holidays)."""

    file: str | list[str]
    columns: dict[str, str] = field(default_factory=dict)  # canonical key -> source column
    keep: list[str] = field(default_factory=list)  # value columns to keep, as named after renaming
    constants: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Mapping:
    source: str
    extracts: dict[str, ExtractMapping]
    options: dict[str, Any] = field(default_factory=dict)
    covariates: CovariatesMapping | None = None
    future: CovariatesMapping | None = None


def load_mapping(path: str | Path | None) -> Mapping:
    """Read a mapping YAML; `None` is the demo ERP's mapping shipped with the package."""
    if path is None:
        text = resources.files("stockwise.erp").joinpath("mappings/demo.yaml").read_text()
        source = "stockwise/erp/mappings/demo.yaml"
    else:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"mapping file {p} does not exist")
        text, source = p.read_text(), str(p)
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{source}: not valid YAML: {e}") from e
    entries = raw.get("extracts")
    if not isinstance(entries, dict):
        raise ConfigError(f"{source}: needs a top-level 'extracts:' mapping")
    unknown = sorted(set(entries) - set(EXTRACTS))
    if unknown:
        raise ConfigError(f"{source}: unknown extract(s) {unknown}; known: {sorted(EXTRACTS)}")
    out: dict[str, ExtractMapping] = {}
    for name, spec in entries.items():
        spec = spec or {}
        bad = sorted(set(spec) - {"table", "query", "file", "columns", "constants", "date_format"})
        if bad:
            raise ConfigError(f"{source}: extract '{name}' has unknown key(s) {bad}")
        out[name] = ExtractMapping(
            name=name,
            table=spec.get("table"),
            query=spec.get("query"),
            file=spec.get("file"),
            columns=dict(spec.get("columns") or {}),
            constants=dict(spec.get("constants") or {}),
            date_format=spec.get("date_format"),
        )
    covariates = _covariates(raw.get("covariates"), "covariates", source)
    # `future`: the same covariates for the periods to forecast (planned prices, promotions,
    # events), for `stockwise predict`; its columns and `keep` default to the covariates'
    fut = raw.get("future")
    if fut and covariates is not None:
        fut = {"columns": covariates.columns, "keep": covariates.keep, **fut}
    future = _covariates(fut, "future", source)
    options = dict(raw.get("options") or {})
    if "freq" in options:  # checked now, not after Spark started
        from stockwise import frequency

        try:
            frequency.parse(options["freq"])
        except ConfigError as e:
            raise ConfigError(f"{source}: options.{e}") from None
    return Mapping(source=source, extracts=out, options=options, covariates=covariates, future=future)


def _covariates(spec, key: str, source: str) -> CovariatesMapping | None:
    if not spec:
        return None
    bad = sorted(set(spec) - {"file", "columns", "keep", "constants"})
    if bad:
        raise ConfigError(f"{source}: '{key}' has unknown key(s) {bad}")
    if not spec.get("file"):
        raise ConfigError(f"{source}: '{key}' needs a 'file'")
    return CovariatesMapping(
        file=spec["file"],
        columns=dict(spec.get("columns") or {}),
        keep=list(spec.get("keep") or []),
        constants=dict(spec.get("constants") or {}),
    )


def apply_columns(df, m: ExtractMapping):
    """Rename source columns to canonical names and add constants.

    A source name ending in `?` is optional: a file without it gets an empty column (for
    example a holdout file without prices next to a training file with them).
    """
    required = {canon: src for canon, src in m.columns.items() if not src.endswith("?")}
    optional = {canon: src[:-1] for canon, src in m.columns.items() if src.endswith("?")}
    missing = [src for src in required.values() if src not in df.columns]
    if missing:
        return df, missing
    df = df.rename(columns={src: canon for canon, src in {**required, **optional}.items()})
    for canon in optional:
        if canon not in df.columns:
            df[canon] = None
    for col, value in m.constants.items():
        df[col] = value
    return df, []
