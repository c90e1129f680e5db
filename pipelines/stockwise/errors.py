"""Domain errors: each names what is wrong, where, and what to do about it."""

from __future__ import annotations


class StockwiseError(Exception):
    """Base of every error Stockwise raises on purpose."""


class ConfigError(StockwiseError):
    """A setting or a mapping file is wrong."""


class ExtractError(StockwiseError):
    """An ERP extract could not be read or does not match the canonical contract."""


class ErpUnavailable(StockwiseError):
    """The ERP could not be reached (down, network): unlike a bad mapping, a retry may fix it."""


class QueueUnavailable(StockwiseError):
    """The stock-event queue (Redis) could not be reached: a retry may fix it; nothing was lost."""


class ValidationFailed(StockwiseError):
    """One or more batches failed their Great Expectations suite; they have been quarantined."""

    def __init__(self, failures: dict[str, list[dict]], quarantine: dict[str, str]) -> None:
        self.failures = failures
        self.quarantine = quarantine
        stale = [f["message"] for items in failures.values() for f in items if f.get("message")]
        lines = [
            f"validation failed for {len(failures)} extract(s): {', '.join(sorted(failures))}; "
            "nothing was published and the last official plan is unchanged"
        ]
        lines += [f"stale data: {m}" for m in stale]
        for extract, items in sorted(failures.items()):
            lines.append(f"extract '{extract}' (batch quarantined at {quarantine.get(extract)}):")
            for f in items:
                col = f" column '{f['column']}'" if f.get("column") else ""
                rows = f" rows {f['rows']}" if f.get("rows") else ""
                if f.get("message"):
                    what = f["message"]
                elif f.get("unexpected_count") is not None:
                    what = f"{f['unexpected_count']} value(s) at fault,{rows} e.g. {f.get('examples', [])}"
                else:
                    what = f"observed {f.get('observed')!r}"
                lines.append(f"  - {f['expectation']}{col}: {what}")
        super().__init__("\n".join(lines))


class LakeError(StockwiseError):
    """A lake partition is missing or its manifest is inconsistent."""


class LakeConflict(LakeError):
    """A conditional lake write lost a race: the object changed since it was read."""


class RunLocked(StockwiseError):
    """Another run holds the plan of this date (see `stockwise.runlock`)."""


class PublishError(StockwiseError):
    """The lake and the ERP could not be brought to name the same plan version."""


class ModelError(StockwiseError):
    """A model could not be trained, loaded or scored."""
