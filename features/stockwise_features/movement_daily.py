"""Daily movement features per sku x location, built with Spark (the anomaly detectors' input).

One row per day a series has a book count or a movement: receipts, sales, manual adjustments
(sum, count, largest), count corrections, returns, recorded shrink, transfers, the book on hand
and the day before's, and the residual on hand - (yesterday + movements), which is zero when the
book and the movements agree. Receipt lines booked twice (the same PO line, sku and location)
are counted on the day of the repeat.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

KINDS = ("receipt", "sale", "adjustment", "count", "return", "shrink", "transfer")


def build(movements: DataFrame, stock: DataFrame) -> DataFrame:
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    mv = movements.withColumn("date", F.to_date("ts"))
    # the same PO line received again: every receipt row after the first of its (ref, sku, location)
    first = Window.partitionBy("sku", "location_id", "ref", "kind").orderBy("ts", "movement_id")
    mv = mv.withColumn("nth", F.row_number().over(first))
    dup = (F.col("kind") == "receipt") & (F.col("nth") > 1) & F.col("ref").isNotNull()

    def total(kind: str):
        return F.sum(F.when(F.col("kind") == kind, F.col("qty")).otherwise(0.0))

    daily = mv.groupBy("sku", "location_id", "date").agg(
        total("receipt").alias("receipts"),
        (-total("sale")).alias("sold"),
        total("adjustment").alias("adjustments"),
        F.sum(F.when(F.col("kind") == "adjustment", 1).otherwise(0)).alias("n_adjustments"),
        F.max(F.when(F.col("kind") == "adjustment", F.abs("qty"))).alias("max_abs_adjustment"),
        total("count").alias("count_qty"),
        F.sum(F.when(F.col("kind") == "count", 1).otherwise(0)).alias("n_counts"),
        total("return").alias("returns"),
        total("shrink").alias("shrink"),
        total("transfer").alias("transfers"),
        F.sum("qty").alias("net_movement"),
        F.sum(F.when(dup, F.col("qty")).otherwise(0.0)).alias("dup_receipt_qty"),
        F.sum(F.when(dup, 1).otherwise(0)).alias("dup_receipt_lines"),
        F.concat_ws(",", F.collect_set(F.when(dup, F.col("ref")))).alias("dup_refs"),
    )
    book = stock.select("sku", "location_id", F.to_date("date").alias("date"), F.col("on_hand").cast("double"))
    df = book.join(daily, ["sku", "location_id", "date"], "full_outer")
    zero = [
        "receipts",
        "sold",
        "adjustments",
        "n_adjustments",
        "count_qty",
        "n_counts",
        "returns",
        "shrink",
        "transfers",
        "net_movement",
        "dup_receipt_qty",
        "dup_receipt_lines",
    ]
    df = df.fillna(0, subset=zero).fillna(0.0, subset=["max_abs_adjustment"]).fillna("", subset=["dup_refs"])
    w = Window.partitionBy("sku", "location_id").orderBy("date")
    df = df.withColumn("prev_on_hand", F.lag("on_hand").over(w))
    df = df.withColumn("prev_date", F.lag("date").over(w))
    # the book only explains itself against the movements from one daily count to the next
    consecutive = F.datediff("date", "prev_date") == 1
    df = df.withColumn(
        "residual",
        F.when(
            consecutive & F.col("on_hand").isNotNull() & F.col("prev_on_hand").isNotNull(),
            F.col("on_hand") - F.col("prev_on_hand") - F.col("net_movement"),
        ).otherwise(F.lit(0.0)),
    )
    cols = [
        "date",
        "sku",
        "location_id",
        "on_hand",
        "prev_on_hand",
        "receipts",
        "sold",
        "adjustments",
        "n_adjustments",
        "max_abs_adjustment",
        "count_qty",
        "n_counts",
        "returns",
        "shrink",
        "transfers",
        "net_movement",
        "residual",
        "dup_receipt_qty",
        "dup_receipt_lines",
        "dup_refs",
    ]
    return df.select(*cols)
