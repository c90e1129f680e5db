"""The expectation suites, built in code, one per extract and named after it.

`stockwise gx-suites` writes them into the File Data Context committed under
`great_expectations/`; the validation step runs the committed JSON, and a test checks that the
JSON and this code agree. Run-time facts (the run date, the known skus and locations) are suite
parameters, filled in by the validation step.
"""

from __future__ import annotations

import great_expectations as gx
import great_expectations.expectations as gxe
from stockwise.erp.schema import EXTRACTS, LOCATION_TYPES, MOVEMENT_KINDS, WEEKDAYS

TYPE_LISTS = {
    "str": ["object", "str", "string"],
    "float": ["float64", "float32", "int64", "int32", "Float64", "Int64"],
    "int": ["int64", "int32", "Int64", "float64"],
    "bool": ["bool", "boolean"],
    "date": ["datetime64[ns]", "datetime64[us]", "datetime64[ms]"],
    "datetime": ["datetime64[ns]", "datetime64[us]", "datetime64[ms]"],
}

DAY = "|".join(WEEKDAYS)

# share of items (suppliers) that may lack a piece of master data before the batch fails; the
# few below it are planned as "needs master data" exceptions, never with a guessed value
MASTER_DATA_MISSING_MAX = 0.10

# suite parameters the validation step provides
RUN_END = "run_end"  # first instant after the run date
FRESH_SINCE = "fresh_since"  # the oldest acceptable newest date (run date - freshness lag)
KNOWN_SKUS = "known_skus"
KNOWN_LOCATIONS = "known_locations"
KNOWN_SUPPLIERS = "known_suppliers"


def build_suite(name: str) -> gx.ExpectationSuite:
    spec = EXTRACTS[name]
    expectations: list = []
    add = expectations.append
    add(gxe.ExpectTableColumnsToMatchSet(column_set=list(spec.columns), exact_match=False))
    for col, kind in spec.columns.items():
        add(gxe.ExpectColumnValuesToBeInTypeList(column=col, type_list=TYPE_LISTS[kind]))
    if spec.must_not_be_empty:
        add(gxe.ExpectTableRowCountToBeBetween(min_value=1))
    for col in spec.key:
        add(gxe.ExpectColumnValuesToNotBeNull(column=col))
    if len(spec.key) == 1:
        add(gxe.ExpectColumnValuesToBeUnique(column=spec.key[0]))
    else:
        add(gxe.ExpectCompoundColumnsToBeUnique(column_list=list(spec.key)))
    # non-negative quantities, and magnitudes beyond which a value is a keying or unit error
    for col in [c for c in spec.columns if c in spec.non_negative or c in spec.max_abs]:
        limit = spec.max_abs.get(col)
        low = 0 if col in spec.non_negative else -limit
        add(gxe.ExpectColumnValuesToBeBetween(column=col, min_value=low, max_value=limit))
    for col in spec.required:
        add(gxe.ExpectColumnValuesToNotBeNull(column=col, mostly=1 - MASTER_DATA_MISSING_MAX))
    if spec.date_column:
        add(gxe.ExpectColumnValuesToNotBeNull(column=spec.date_column))
        add(gxe.ExpectColumnValuesToBeBetween(
            column=spec.date_column, max_value={"$PARAMETER": RUN_END}, strict_max=True))
    if spec.fresh:
        # freshness: data that stopped days ago must never be planned as if it were today's
        add(gxe.ExpectColumnMaxToBeBetween(column=spec.date_column, min_value={"$PARAMETER": FRESH_SINCE}))
    if "sku" in spec.columns and name != "items":
        add(gxe.ExpectColumnValuesToBeInSet(column="sku", value_set={"$PARAMETER": KNOWN_SKUS}))
    if "location_id" in spec.columns and name != "locations":
        add(gxe.ExpectColumnValuesToBeInSet(
            column="location_id", value_set={"$PARAMETER": KNOWN_LOCATIONS}))
    if name == "items":
        add(gxe.ExpectColumnValuesToBeBetween(column="pack_size", min_value=1))
        add(gxe.ExpectColumnValuesToBeInSet(
            column="supplier_id", value_set={"$PARAMETER": KNOWN_SUPPLIERS}))
    if name == "locations":
        add(gxe.ExpectColumnValuesToBeInSet(column="type", value_set=list(LOCATION_TYPES)))
    if name == "suppliers":
        add(gxe.ExpectColumnValuesToBeBetween(column="lead_time_days_mean", min_value=0, max_value=365))
        add(gxe.ExpectColumnValuesToMatchRegex(
            column="order_weekdays", regex=rf"^(?:{DAY})(?:,(?:{DAY}))*$"))
    if name == "movements":
        add(gxe.ExpectColumnValuesToBeInSet(column="kind", value_set=list(MOVEMENT_KINDS)))
        add(gxe.ExpectColumnValuesToNotBeNull(column="qty"))
    if name in ("sales", "stock"):
        qty = "qty" if name == "sales" else "on_hand"
        add(gxe.ExpectColumnValuesToNotBeNull(column=qty))
    if name == "receipts":
        add(gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="received_date", column_B="order_date", or_equal=True))
    if name == "reorder_rules":
        add(gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="max_qty", column_B="min_qty", or_equal=True))
    if name == "overrides":
        add(gxe.ExpectColumnValuesToNotBeNull(column="sku"))
        add(gxe.ExpectColumnValuesToBeBetween(column="service_level", min_value=0.5, max_value=0.999))
        add(gxe.ExpectColumnValuesToNotBeNull(column="author"))
    # built without a context: adding one by one would try to save each to a store
    return gx.ExpectationSuite(name=name, expectations=expectations)


def suite_dict(name: str) -> dict:
    """The suite as committed: stable (no generated ids), so reruns of `gx-suites` diff cleanly."""
    d = build_suite(name).to_json_dict()
    d.pop("id", None)
    for e in d.get("expectations", []):
        e.pop("id", None)
    return d
