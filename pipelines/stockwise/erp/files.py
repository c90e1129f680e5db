"""The `files` connector: an ERP that exports CSV/Parquet files into a folder, plus a YAML mapping.

Each extract's mapping names a `file` (a glob, relative to the folder), the column renames and
constants. Write-back goes to `outbox/` in the same folder, one file per plan, replaced whole
(so a rerun never duplicates a line); the ERP's import job picks it up from there.
"""

from __future__ import annotations

import logging
import os
import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from stockwise.erp.mapping import Mapping, apply_columns
from stockwise.erp.schema import EXTRACTS, conform
from stockwise.errors import ConfigError, ExtractError

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


class FilesConnector:
    def __init__(self, folder: str | Path, mapping: Mapping) -> None:
        self.folder = Path(folder).expanduser().resolve()
        if not self.folder.is_dir():
            raise ConfigError(f"ERP files folder {self.folder} does not exist")
        self.mapping = mapping

    def maps(self, name: str) -> bool:
        """Whether the mapping provides extract `name` (optional extracts may be left out)."""
        return name in self.mapping.extracts and bool(self.mapping.extracts[name].file)

    def describe(self) -> str:
        return f"files:{self.folder}"

    def _read(self, path: Path, m) -> pd.DataFrame:
        import pandas as pd

        try:
            if path.suffix == ".parquet":
                return pd.read_parquet(path)
            if path.suffix in (".csv", ".txt", ".gz"):
                return pd.read_csv(path, dtype=str, keep_default_na=True)
        except Exception as e:  # noqa: BLE001 - re-raised with the file named
            raise ExtractError(f"{path}: cannot be read as {path.suffix} ({e})") from e
        raise ExtractError(f"{path}: unsupported file type (use .csv or .parquet)")

    def _paths(self, pattern: str | list[str], what: str) -> list[Path]:
        patterns = [pattern] if isinstance(pattern, str) else list(pattern)
        paths = [p for pat in patterns for p in sorted(self.folder.glob(pat))]
        if not paths:
            raise ExtractError(f"{self.folder}/{patterns[0] if len(patterns) == 1 else patterns}: no file for {what}")
        return paths

    def has(self, name: str) -> bool:
        m = self.mapping.extracts.get(name)
        return m is not None and bool(m.file)

    def covariates(self) -> pd.DataFrame | None:
        """Known-in-advance covariates (sku, location_id, date, ...), or None without a mapping."""
        import pandas as pd

        cm = self.mapping.covariates
        if cm is None:
            return None
        frames = []
        for p in self._paths(cm.file, "covariates"):
            df = self._read(p, cm).rename(columns={src: canon for canon, src in cm.columns.items()})
            for col, value in cm.constants.items():
                df[col] = value
            missing = [c for c in ["sku", "location_id", "date", *cm.keep] if c not in df.columns]
            if missing:
                raise ExtractError(f"{p}: covariates lack column(s) {missing}")
            frames.append(df[["sku", "location_id", "date", *cm.keep]])
        out = pd.concat(frames, ignore_index=True)
        out["date"] = pd.to_datetime(out["date"])
        for c in cm.keep:
            num = pd.to_numeric(out[c], errors="coerce")
            if num.notna().sum() == out[c].notna().sum():
                out[c] = num
        out["sku"] = out["sku"].astype(str)
        out["location_id"] = out["location_id"].astype(str)
        return out.drop_duplicates(["sku", "location_id", "date"], keep="last").reset_index(drop=True)

    def extract(self, name: str, ds: date, history_days: int | None) -> pd.DataFrame:
        import pandas as pd

        m = self.mapping.extracts.get(name)
        if m is None or not m.file:
            raise ExtractError(f"{self.mapping.source}: no `file` for extract '{name}'")
        what = f"extract '{name}'"
        paths = self._paths(m.file, what)
        frames = []
        for p in paths:
            df, missing = apply_columns(self._read(p, m), m)
            if missing:
                raise ExtractError(f"{p}: extract '{name}' lacks source column(s) {missing}")
            frames.append(df)
        frames = [f.dropna(axis=1, how="all") if len(frames) > 1 else f for f in frames]
        df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        spec = EXTRACTS[name]
        out = conform(name, df, f"{self.folder}/{m.file}", strict=False)
        if spec.date_column in out and pd.api.types.is_datetime64_any_dtype(out[spec.date_column]):
            end = pd.Timestamp(ds) + pd.Timedelta(days=1)
            keep = out[spec.date_column] < end
            if history_days:
                keep &= out[spec.date_column] >= pd.Timestamp(ds - timedelta(days=history_days - 1))
            # rows after the run date are kept for open orders only (their date is an order date)
            out = out[keep].reset_index(drop=True)
        return out

    def write_requisitions(self, plan_id: str, lines: pd.DataFrame, ds: date) -> dict[str, int]:
        out = self.folder / "outbox" / "purchase_requisitions"
        out.mkdir(parents=True, exist_ok=True)
        df = lines.assign(plan_id=plan_id, status="proposed", created_ds=ds.isoformat())
        cols = ["plan_id", "sku", "location_id", "supplier_id", "order_qty", "need_by", "reason", "status", "created_ds"]
        target = out / f"{plan_id}.csv"
        fd, tmp = tempfile.mkstemp(dir=out, prefix=".tmp-")
        with os.fdopen(fd, "w") as f:
            df[cols].rename(columns={"order_qty": "qty"}).to_csv(f, index=False)
        os.replace(tmp, target)
        return {"upserted": len(df), "removed": 0}

    def write_cycle_count_tasks(self, tasks: pd.DataFrame, ds: date) -> int:
        out = self.folder / "outbox" / "cycle_count_tasks"
        out.mkdir(parents=True, exist_ok=True)
        target = out / f"{ds.isoformat()}.csv"
        fd, tmp = tempfile.mkstemp(dir=out, prefix=".tmp-")
        with os.fdopen(fd, "w") as f:
            tasks.to_csv(f, index=False)
        os.replace(tmp, target)
        return len(tasks)
