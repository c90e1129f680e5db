"""The `files` connector: an ERP that exports CSV/Parquet files into a folder, plus a YAML mapping.

Each extract's mapping names a `file` (a glob, relative to the folder), the column renames and
constants. Write-back goes to `outbox/` in the same folder, one file per plan, replaced whole
(so a rerun never duplicates a line); the ERP's import job picks it up from there.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
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

    def covariates(self, which: str = "covariates") -> pd.DataFrame | None:
        """Known-in-advance covariates (sku, location_id, date, ...) of the mapping's `covariates`
        (history) or `future` (the periods to forecast), or None where the mapping has none."""
        import pandas as pd

        cm = self.mapping.future if which == "future" else self.mapping.covariates
        if cm is None:
            return None
        frames = []
        for p in self._paths(cm.file, which):
            df = self._read(p, cm).rename(columns={src: canon for canon, src in cm.columns.items()})
            for col, value in cm.constants.items():
                df[col] = value
            missing = [c for c in ["sku", "location_id", "date", *cm.keep] if c not in df.columns]
            if missing:
                raise ExtractError(f"{p}: {which} lack column(s) {missing}")
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

    def commit_plan(
        self,
        plan_id: str,
        ds: date,
        version: str,
        lines: pd.DataFrame,
        exceptions: pd.DataFrame | None = None,
        published_by: str = "",
        before_commit: Callable[[], None] | None = None,
    ) -> dict[str, int]:
        """One CSV per plan in `outbox/purchase_requisitions/` (and `outbox/transfer_orders/` for
        a network plan's DC -> store lines), replaced whole; every row carries the plan version.
        The exceptions and transfers go first; the requisitions' rename is the commit point, and
        the publication record (`outbox/publications/<plan>.json`) follows it."""
        import json

        import pandas as pd

        from stockwise.erp.sql import split_lines

        box = self.folder / "outbox"
        stamp = {"plan_id": plan_id, "plan_version": version, "status": "proposed", "created_ds": ds.isoformat()}
        purchases, transfers = split_lines(lines)
        df = purchases.assign(**stamp)
        moves = transfers.assign(**stamp).rename(
            columns={"location_id": "to_location_id", "source_id": "from_location_id", "order_qty": "qty"}
        )
        move_cols = ["plan_id", "plan_version", "sku", "from_location_id", "to_location_id", "qty", "requested_qty"]
        move_cols += ["need_by", "reason", "status", "created_ds"]
        cols = [
            "plan_id",
            "plan_version",
            "sku",
            "location_id",
            "supplier_id",
            "order_qty",
            "need_by",
            "reason",
            "status",
            "created_ds",
        ]
        exc = exceptions if exceptions is not None else pd.DataFrame(columns=["sku", "location_id", "kind", "detail"])
        _replace(
            box / "planning_exceptions" / f"{plan_id}.csv",
            exc.assign(plan_id=plan_id, plan_version=version).to_csv(index=False),
        )
        if len(moves) or (box / "transfer_orders" / f"{plan_id}.csv").exists():
            _replace(box / "transfer_orders" / f"{plan_id}.csv", moves.reindex(columns=move_cols).to_csv(index=False))
        if before_commit is not None:
            before_commit()
        _replace(
            box / "purchase_requisitions" / f"{plan_id}.csv",
            df[cols].rename(columns={"order_qty": "qty"}).to_csv(index=False),
        )
        record = {
            "plan_id": plan_id,
            "ds": ds.isoformat(),
            "version": version,
            "lines": len(df) + len(moves),
            "exceptions": len(exc),
            "published_by": published_by,
        }
        _replace(box / "publications" / f"{plan_id}.json", json.dumps(record))
        return {"upserted": len(df), "transfers": len(moves), "removed": 0, "exceptions": len(exc)}

    def publication(self, plan_id: str) -> dict | None:
        import json

        import pandas as pd

        lines = self.folder / "outbox" / "purchase_requisitions" / f"{plan_id}.csv"
        record = self.folder / "outbox" / "publications" / f"{plan_id}.json"
        rec = json.loads(record.read_text()) if record.is_file() else None
        if lines.is_file():
            versions = pd.read_csv(lines, usecols=["plan_version"], dtype=str)["plan_version"].dropna().unique()
            if len(versions):  # the lines are the commit point: they name the version the ERP holds
                return {**(rec or {}), "plan_id": plan_id, "version": str(versions[0])}
        return rec

    def write_cycle_count_tasks(self, tasks: pd.DataFrame, ds: date) -> int:
        _replace(self.folder / "outbox" / "cycle_count_tasks" / f"{ds.isoformat()}.csv", tasks.to_csv(index=False))
        return len(tasks)


def _replace(target: Path, text: str) -> None:
    """Write a whole file atomically (temporary file, then rename), readable by the ERP's import job."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
