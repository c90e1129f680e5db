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
    """The suite of one extract: what its contract says (columns, types, keys, ranges, master
    data, dates, freshness), what it must refer to (known skus, locations, suppliers), and the
    rules of that extract alone."""
    spec = EXTRACTS[name]
    expectations = _contract(spec) + _references(name, spec) + _rules_of(name)
    # built without a context: adding one by one would try to save each to a store
    return gx.ExpectationSuite(name=name, expectations=expectations)


def _contract(spec) -> list:
    out: list = [gxe.ExpectTableColumnsToMatchSet(column_set=list(spec.columns), exact_match=False)]
    out += [gxe.ExpectColumnValuesToBeInTypeList(column=c, type_list=TYPE_LISTS[k]) for c, k in spec.columns.items()]
    if spec.must_not_be_empty:
        out.append(gxe.ExpectTableRowCountToBeBetween(min_value=1))
    out += [gxe.ExpectColumnValuesToNotBeNull(column=c) for c in spec.key]
    out.append(
        gxe.ExpectColumnValuesToBeUnique(column=spec.key[0])
        if len(spec.key) == 1
        else gxe.ExpectCompoundColumnsToBeUnique(column_list=list(spec.key))
    )
    # non-negative quantities, and magnitudes beyond which a value is a keying or unit error
    for col in [c for c in spec.columns if c in spec.non_negative or c in spec.max_abs]:
        limit = spec.max_abs.get(col)
        low = 0 if col in spec.non_negative else -limit
        out.append(gxe.ExpectColumnValuesToBeBetween(column=col, min_value=low, max_value=limit))
    out += [gxe.ExpectColumnValuesToNotBeNull(column=c, mostly=1 - MASTER_DATA_MISSING_MAX) for c in spec.required]
    if spec.date_column:
        out.append(gxe.ExpectColumnValuesToNotBeNull(column=spec.date_column))
        out.append(
            gxe.ExpectColumnValuesToBeBetween(
                column=spec.date_column, max_value={"$PARAMETER": RUN_END}, strict_max=True
            )
        )
    if spec.fresh:
        # freshness: data that stopped days ago must never be planned as if it were today's
        out.append(gxe.ExpectColumnMaxToBeBetween(column=spec.date_column, min_value={"$PARAMETER": FRESH_SINCE}))
    return out


def _references(name: str, spec) -> list:
    out: list = []
    if "sku" in spec.columns and name != "items":
        out.append(gxe.ExpectColumnValuesToBeInSet(column="sku", value_set={"$PARAMETER": KNOWN_SKUS}))
    if "location_id" in spec.columns and name != "locations":
        out.append(gxe.ExpectColumnValuesToBeInSet(column="location_id", value_set={"$PARAMETER": KNOWN_LOCATIONS}))
    if name == "items":
        out.append(gxe.ExpectColumnValuesToBeInSet(column="supplier_id", value_set={"$PARAMETER": KNOWN_SUPPLIERS}))
    return out


def _rules_of(name: str) -> list:
    rules: dict[str, list] = {
        "items": [gxe.ExpectColumnValuesToBeBetween(column="pack_size", min_value=1)],
        "locations": [gxe.ExpectColumnValuesToBeInSet(column="type", value_set=list(LOCATION_TYPES))],
        "suppliers": [
            gxe.ExpectColumnValuesToMatchRegex(column="order_weekdays", regex=rf"^(?:{DAY})(?:,(?:{DAY}))*$")
        ],
        "movements": [
            gxe.ExpectColumnValuesToBeInSet(column="kind", value_set=list(MOVEMENT_KINDS)),
            gxe.ExpectColumnValuesToNotBeNull(column="qty"),
        ],
        "sales": [gxe.ExpectColumnValuesToNotBeNull(column="qty")],
        "stock": [gxe.ExpectColumnValuesToNotBeNull(column="on_hand")],
        "receipts": [
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="received_date", column_B="order_date", or_equal=True)
        ],
        "sourcing": [
            gxe.ExpectColumnValuesToNotBeNull(column="source_id"),
            gxe.ExpectColumnValuesToBeInSet(column="source_id", value_set={"$PARAMETER": KNOWN_LOCATIONS}),
            gxe.ExpectColumnValuesToNotBeNull(column="lead_time_days_mean"),
            gxe.ExpectColumnValuesToMatchRegex(column="ship_weekdays", regex=rf"^(?:{DAY})(?:,(?:{DAY}))*$"),
        ],
        "transfers": [
            gxe.ExpectColumnValuesToBeInSet(column="source_id", value_set={"$PARAMETER": KNOWN_LOCATIONS}),
            gxe.ExpectColumnValuesToNotBeNull(column="qty"),
            gxe.ExpectColumnValuesToNotBeNull(column="ship_date"),
            # a transfer still on the truck has no receipt yet
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="received_date", column_B="ship_date", or_equal=True, ignore_row_if="either_value_is_missing"
            ),
        ],
        "reorder_rules": [
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="max_qty", column_B="min_qty", or_equal=True)
        ],
        "overrides": [
            gxe.ExpectColumnValuesToNotBeNull(column="sku"),
            gxe.ExpectColumnValuesToBeBetween(column="service_level", min_value=0.5, max_value=0.999),
            gxe.ExpectColumnValuesToNotBeNull(column="author"),
        ],
    }
    return rules.get(name, [])


def suite_dict(name: str) -> dict:
    """The suite as committed: stable (no generated ids), so reruns of `gx-suites` diff cleanly."""
    d = build_suite(name).to_json_dict()
    d.pop("id", None)
    for e in d.get("expectations", []):
        e.pop("id", None)
    return d
