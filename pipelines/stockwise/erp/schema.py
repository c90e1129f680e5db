"""The ERP contract: the canonical extracts every connector returns, and the write-back tables."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from stockwise.errors import ExtractError

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Extract:
    name: str
    key: tuple[str, ...]
    columns: dict[str, str]  # column -> kind: str, int, float, bool, date, datetime
    date_column: str | None = None  # the column that bounds the extract in time
    non_negative: tuple[str, ...] = ()
    optional: bool = False  # a mapping may leave it out; planning then uses defaults
    # beyond these magnitudes a value is a keying or unit error, not data (the planner would
    # order or sample nonsense): the batch is quarantined
    max_abs: dict[str, float] = field(default_factory=dict)
    # master data a line needs to be ordered: a few missing values put those lines on the
    # "needs master data" list; more than the allowed share fails the whole batch
    required: tuple[str, ...] = ()
    must_not_be_empty: bool = False
    fresh: bool = False  # its newest date must be within the freshness lag of the run date
    # columns an ERP may not have (descriptive text): empty when absent, never a reason to fail
    optional_columns: tuple[str, ...] = ()


# a purchase-order line, open or received
PO_LINE = {
    "po_id": "str",
    "sku": "str",
    "location_id": "str",
    "qty": "float",
    "order_date": "date",
    "expected_date": "date",
}

EXTRACTS: dict[str, Extract] = {
    e.name: e
    for e in (
        Extract(
            "items",
            ("sku",),
            {
                "sku": "str",
                "name": "str",
                "category": "str",
                "unit_cost": "float",
                "unit_price": "float",
                "pack_size": "int",
                "moq": "int",
                "supplier_id": "str",
                "shelf_facings": "int",
                "store_pack_size": "int",  # the pack a DC ships to stores in (transfers)
            },
            non_negative=("unit_cost", "unit_price", "moq", "shelf_facings", "store_pack_size"),
            max_abs={
                "unit_cost": 1e7,
                "unit_price": 1e7,
                "pack_size": 1e5,
                "moq": 1e7,
                "shelf_facings": 1e4,
                "store_pack_size": 1e5,
            },
            required=("unit_cost", "pack_size", "supplier_id"),
            must_not_be_empty=True,
            optional_columns=("store_pack_size",),
        ),
        Extract(
            "locations",
            ("location_id",),
            {"location_id": "str", "type": "str", "region": "str"},
            must_not_be_empty=True,
        ),
        Extract(
            "suppliers",
            ("supplier_id",),
            {
                "supplier_id": "str",
                "lead_time_days_mean": "float",
                "lead_time_days_std": "float",
                "order_weekdays": "str",
                "min_order_value": "float",
                "name": "str",
            },
            optional_columns=("name",),
            non_negative=("lead_time_days_mean", "lead_time_days_std", "min_order_value"),
            max_abs={"lead_time_days_mean": 365, "lead_time_days_std": 365, "min_order_value": 1e9},
            required=("lead_time_days_mean",),
            must_not_be_empty=True,
        ),
        Extract(
            "sales",
            ("date", "sku", "location_id"),
            {
                "date": "date",
                "sku": "str",
                "location_id": "str",
                "qty": "float",
                "price": "float",
                "on_promo": "bool",
            },
            date_column="date",
            non_negative=("qty", "price"),
            max_abs={"qty": 1e6, "price": 1e7},
            must_not_be_empty=True,
            fresh=True,
        ),
        Extract(
            "stock",
            ("date", "sku", "location_id"),
            {"date": "date", "sku": "str", "location_id": "str", "on_hand": "float"},
            date_column="date",
            max_abs={"on_hand": 1e8},
            must_not_be_empty=True,
            fresh=True,
        ),
        Extract(
            "movements",
            ("movement_id",),
            {
                "movement_id": "str",
                "ts": "datetime",
                "sku": "str",
                "location_id": "str",
                "kind": "str",
                "qty": "float",
                "ref": "str",
            },
            date_column="ts",
            max_abs={"qty": 1e7},
            fresh=True,
        ),
        Extract(
            "open_orders",
            ("po_id", "sku", "location_id"),
            PO_LINE,
            date_column="order_date",
            non_negative=("qty",),
            max_abs={"qty": 1e7},
        ),
        # optional: received PO lines, from which lead times are learned
        Extract(
            "receipts",
            ("po_id", "sku", "location_id"),
            {**PO_LINE, "received_date": "date"},
            date_column="received_date",
            non_negative=("qty",),
            max_abs={"qty": 1e7},
            optional=True,
        ),
        # optional: the ERP's current static min/max, the baseline the simulator compares with
        Extract(
            "reorder_rules",
            ("sku", "location_id"),
            {"sku": "str", "location_id": "str", "min_qty": "float", "max_qty": "float"},
            non_negative=("min_qty", "max_qty"),
            max_abs={"min_qty": 1e7, "max_qty": 1e7},
            optional=True,
        ),
        # optional: which location replenishes which (stores from a DC): the transfer lead time
        # and the truck days; locations not listed buy from their items' suppliers
        Extract(
            "sourcing",
            ("location_id",),
            {
                "location_id": "str",
                "source_id": "str",
                "lead_time_days_mean": "float",
                "lead_time_days_std": "float",
                "ship_weekdays": "str",
            },
            non_negative=("lead_time_days_mean", "lead_time_days_std"),
            max_abs={"lead_time_days_mean": 60, "lead_time_days_std": 60},
            optional=True,
        ),
        # optional: the transfers a DC shipped to the stores it serves (received when landed):
        # the transfer lead times are learned from them as supplier lead times from receipts.
        # Transfers still on the truck belong in `open_orders` too (the store's position).
        Extract(
            "transfers",
            ("transfer_id", "sku", "location_id"),
            {
                "transfer_id": "str",
                "sku": "str",
                "source_id": "str",
                "location_id": "str",
                "requested_qty": "float",
                "qty": "float",
                "ship_date": "date",
                "expected_date": "date",
                "received_date": "date",
            },
            date_column="ship_date",
            non_negative=("qty", "requested_qty"),
            max_abs={"qty": 1e7, "requested_qty": 1e7},
            optional=True,
            optional_columns=("requested_qty", "expected_date"),
        ),
        # optional: planner overrides (a blank location means every location)
        Extract(
            "overrides",
            ("override_id",),
            {
                "override_id": "str",
                "sku": "str",
                "location_id": "str",
                "fixed_qty": "float",
                "service_level": "float",
                "reason": "str",
                "author": "str",
                "expires": "date",
            },
            non_negative=("fixed_qty",),
            max_abs={"fixed_qty": 1e7},
            optional=True,
        ),
    )
}

# adjustment: keyed by hand; count: the correction a physical (cycle) count books
MOVEMENT_KINDS = ("receipt", "sale", "adjustment", "count", "transfer", "return", "shrink")
LOCATION_TYPES = ("store", "warehouse")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# Stockwise writes these back to the ERP.
PURCHASE_REQUISITIONS = "purchase_requisitions"
TRANSFER_ORDERS = "transfer_orders"  # DC -> store transfers of a network plan
CYCLE_COUNT_TASKS = "cycle_count_tasks"
PLANNING_EXCEPTIONS = "planning_exceptions"  # lines Stockwise would not order (e.g. missing master data)
PUBLICATIONS = "stockwise_publications"  # which plan version the ERP holds, per plan id


def conform(name: str, df: pd.DataFrame, source: str, strict: bool = True) -> pd.DataFrame:
    """Select and type the canonical columns of extract `name`; name the source on any mismatch.

    `strict=False` (what connectors use) lets a batch with missing columns through as pulled,
    so that the validation gate reports it and quarantines it with everything else it finds.

    Types are coerced where the coercion cannot lose meaning (strings of digits to numbers,
    ISO strings to dates). What cannot be coerced stays as is, so that validation reports the
    rows at fault instead of this function hiding them.
    """
    import pandas as pd

    spec = EXTRACTS[name]
    absent = [c for c in spec.optional_columns if c not in df.columns]
    if absent:  # descriptive columns the source does not have: empty, not missing
        df = df.assign(**{c: None for c in absent})
    missing = [c for c in spec.columns if c not in df.columns]
    if missing and strict:
        raise ExtractError(f"{source}: extract '{name}' lacks column(s) {missing}; it has {sorted(df.columns)}")
    if missing:
        log.warning("%s: extract '%s' lacks column(s) %s; validation will quarantine it", source, name, missing)
    present = [c for c in spec.columns if c in df.columns]
    out = df[present].copy()
    for col, kind in spec.columns.items():
        if col not in out.columns:
            continue
        s = out[col]
        if kind == "str":
            out[col] = s.astype("string").astype(object).where(s.notna(), None)
        elif kind in ("float", "int"):
            num = pd.to_numeric(s, errors="coerce")
            # keep non-numeric values visible to validation rather than silently NaN-ing them
            out[col] = num if num.notna().sum() == s.notna().sum() else s
        elif kind == "bool":
            if s.dtype != bool:
                mapped = s.map(
                    {
                        True: True,
                        False: False,
                        "1": True,
                        "0": False,
                        "true": True,
                        "false": False,
                        "True": True,
                        "False": False,
                    }
                )
                out[col] = mapped if mapped.notna().sum() == s.notna().sum() else s
        elif kind == "date":
            d = pd.to_datetime(s, errors="coerce")
            out[col] = d.dt.normalize().astype("datetime64[ns]") if d.notna().sum() == s.notna().sum() else s
        elif kind == "datetime":
            d = pd.to_datetime(s, errors="coerce")
            out[col] = d.astype("datetime64[ns]") if d.notna().sum() == s.notna().sum() else s
    return out.reset_index(drop=True)
