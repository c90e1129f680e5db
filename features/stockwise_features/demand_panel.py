"""The sku x location demand panel, built with Spark: daily for planning, any supported
frequency (stockwise.frequency) for a history folder.

Gaps are filled (a day without a sales row sold nothing), stockout days are flagged (book
on-hand at zero: that day's sales are censored, so they are not demand), and lags, rolling
means over observed demand, calendar and price/promotion features are added. Every feature of
day `d` uses data of days before `d` only, so the table can be cut at any backtest cutoff
without leakage.
"""

from __future__ import annotations

import io
import logging
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from stockwise import catalog, frequency, lake
from stockwise.frequency import Frequency
from stockwise.settings import Settings
from stockwise_features import movement_daily

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)


def build_panel(
    spark: SparkSession,
    sales: DataFrame,
    stock: DataFrame | None,
    items: DataFrame,
    ds: date,
    freq: str = "D",
    gaps: str = "zero",
) -> DataFrame:
    """Pure transform: canonical sales/stock/items frames -> the feature panel.

    A series starts on its first stock record or its first positive sale, whichever is first
    (leading zeros before a launch are not demand). Without a stock extract (an ERP that only
    exports sales) no day is flagged as a stockout. A period without a sales row sold nothing
    (`gaps="zero"`, an ERP's sales lines) or was not observed (`gaps="missing"`, a history that
    lists every period it knows: its quantity stays empty, and no model reads it as a zero).
    """
    if gaps not in ("zero", "missing"):
        raise ValueError(f"gaps must be 'zero' or 'missing', not {gaps!r}")
    f = frequency.parse(freq)
    p = _observations(_grid(spark, sales, stock, ds, f), sales, stock, items, gaps == "zero")
    return _features(p, f)


def _grid(spark: SparkSession, sales: DataFrame, stock: DataFrame | None, ds: date, f: Frequency) -> DataFrame:
    """Every period of every series, from its first stock record or positive sale to `ds`.

    Days come from Spark's `sequence`; other periods from pandas' calendar for the frequency (a
    Friday every week for W-FRI, the last day of each month for ME), a small table of dates
    joined to the series, so any supported grid is exact."""
    import pandas as pd
    from pyspark.sql import functions as F

    first_sale = sales.where(F.col("qty") > 0).groupBy("sku", "location_id").agg(F.min("date").alias("first_sale"))
    if stock is not None:
        first = stock.groupBy("sku", "location_id").agg(F.min("date").alias("first_date"))
        # a location that never sold anything (a warehouse) holds stock for others: its stock
        # rows are not demand series (its demand is its stores' orders: planning.network)
        selling = sales.select("location_id").distinct()
        first = first.join(F.broadcast(selling), "location_id", "left_semi")
        series = first.join(first_sale, ["sku", "location_id"], "full").select(
            "sku", "location_id", F.least("first_date", "first_sale").alias("start")
        )
    else:
        series = first_sale.select("sku", "location_id", F.col("first_sale").alias("start"))
    if f.kind == "D":  # every day from the start: Spark's own sequence, no join
        return series.select(
            "sku",
            "location_id",
            F.explode(F.sequence(F.col("start").cast("date"), F.lit(ds), F.expr("interval 1 day"))).alias("date"),
        )
    earliest = series.agg(F.min("start")).first()[0]
    if earliest is None:  # nothing ever sold: no series
        return series.select("sku", "location_id", F.col("start").cast("date").alias("date")).limit(0)
    dates = pd.date_range(pd.Timestamp(earliest), pd.Timestamp(ds), freq=f.alias)
    grid = spark.createDataFrame(pd.DataFrame({"date": dates.date}), "date date")
    return series.join(F.broadcast(grid), F.col("date") >= F.col("start").cast("date")).select(
        "sku", "location_id", "date"
    )


def _observations(
    grid: DataFrame, sales: DataFrame, stock: DataFrame | None, items: DataFrame, gaps_are_zero: bool = True
) -> DataFrame:
    """Sales (gaps zero or missing), the book carried forward, stockouts censoring demand, price and promotion."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    def optional(c: str):  # prices and promotions are optional covariates of a history
        return F.col(c) if c in sales.columns else F.lit(None)

    s = sales.select(
        "sku",
        "location_id",
        F.col("date").cast("date").alias("date"),
        F.col("qty").cast("double").alias("qty"),
        optional("price").cast("double").alias("price"),
        optional("on_promo").cast("boolean").alias("on_promo"),
    )
    it = items.select("sku", "category", F.col("unit_price").cast("double").alias("list_price"))
    p = grid.join(s, ["sku", "location_id", "date"], "left")
    if stock is not None:
        k = stock.select(
            "sku",
            "location_id",
            F.col("date").cast("date").alias("date"),
            F.col("on_hand").cast("double").alias("on_hand"),
        )
        p = p.join(k, ["sku", "location_id", "date"], "left")
    else:
        p = p.withColumn("on_hand", F.lit(None).cast("double"))
    p = p.join(it, ["sku"], "left")
    ffill = Window.partitionBy("sku", "location_id").orderBy("date").rowsBetween(Window.unboundedPreceding, 0)
    # one select: both carried-forward columns in one window pass
    p = p.select(
        "sku",
        "location_id",
        "date",
        (F.coalesce("qty", F.lit(0.0)) if gaps_are_zero else F.col("qty")).alias("qty"),
        F.coalesce(F.last("price", ignorenulls=True).over(ffill), F.col("list_price")).alias("price"),
        F.coalesce("on_promo", F.lit(False)).alias("on_promo"),
        F.last("on_hand", ignorenulls=True).over(ffill).alias("on_hand"),
        "category",
    )
    # end-of-day book stock at zero: sales were capped by what was there
    stockout = F.coalesce(F.col("on_hand") <= 0, F.lit(False))
    return p.withColumn("stockout", stockout).withColumn(
        "demand_obs", F.when(F.col("stockout"), F.lit(None)).otherwise(F.col("qty"))
    )


def _features(p: DataFrame, f: Frequency) -> DataFrame:
    """Lags, rolling demand statistics (windows end the period before), calendar, price ratio.

    Rolling sums come from running totals: the sum over the `n` periods before `d` is the
    running total at `d - 1` minus the one at `d - 1 - n`. One pass per series whatever the
    window lengths, where Spark's sliding frames re-aggregate every window for every row (the
    panel's cost grew with the sum of the window lengths: 21 s of 31 on M5's 450k rows)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    w = Window.partitionBy("sku", "location_id").orderBy("date")
    running = w.rowsBetween(Window.unboundedPreceding, 0)
    seen = F.col("demand_obs").isNotNull()
    totals = {  # running totals of observed demand (count, sum, sum of squares) and of stockout periods
        "_n": F.when(seen, 1).otherwise(0),
        "_s1": F.coalesce(F.col("demand_obs"), F.lit(0.0)),
        "_s2": F.coalesce(F.col("demand_obs") * F.col("demand_obs"), F.lit(0.0)),
        "_so": F.col("stockout").cast("int"),
    }
    top = F.max("price").over(w.rowsBetween(-f.windows[1], 0))
    # pass 1: lags, running totals, the series' first period, the recent top price
    p = p.select(
        "*",
        *[F.lag("qty", lag).over(w).alias(f"lag_{lag}") for lag in f.lags],
        *[F.sum(value).over(running).alias(name) for name, value in totals.items()],
        F.first("date").over(running).alias("_start"),
        # a zero price is "not on sale", not a division (Spark's ANSI mode would fail the job)
        F.when(top > 0, F.col("price") / top).alias("price_ratio"),
    )

    def past(name: str, n: int):
        """Sum of the running total's input over the n periods before this one (None on the first)."""
        return F.lag(name, 1).over(w) - F.coalesce(F.lag(name, n + 1).over(w), F.lit(0))

    # pass 2: window statistics as differences of running totals
    stats = []
    for n in f.windows:
        cnt, s1, s2 = past("_n", n), past("_s1", n), past("_s2", n)
        var = (s2 - s1 * s1 / cnt) / (cnt - 1)
        stats += [
            F.when(cnt > 0, s1 / cnt).alias(f"rmean_{n}"),
            # clipped at zero: a constant window's variance can come out as -1e-12
            F.when(cnt > 1, F.sqrt(F.greatest(var, F.lit(0.0)))).alias(f"rstd_{n}"),
            past("_so", n).alias(f"stockout_days_{n}"),
        ]
    keep = [
        F.col(c).cast("int").alias(c) if c == "on_promo" else F.col(c)
        for c in p.columns
        if c not in totals and c not in ("_start", "price_ratio")
    ]
    return p.select(
        *keep,
        *stats,
        F.dayofweek("date").alias("dow"),
        F.month("date").alias("month"),
        F.dayofyear("date").alias("doy"),
        F.datediff("date", "_start").alias("days_since_start"),
        "price_ratio",
    )


@dataclass(frozen=True)
class FeaturesResult:
    table: str
    ds: str
    rows: int
    series: int
    uri: str
    seconds: float


def run(ds: date, settings: Settings | None = None) -> FeaturesResult:
    """Read validated sales/stock/items for `ds`, build the panel in Spark, write its partition.

    With executors that share this process's disk (local mode, or `STOCKWISE_SPARK_SCRATCH` on
    a cluster) the inputs and outputs go through Parquet files there; otherwise the inputs are
    shipped from the driver and each output partition comes back as Parquet bytes
    (`stockwise.spark.parquet_parts`): no folder only the driver sees."""
    from stockwise import spark as sparkutil

    settings = settings or Settings()
    store = lake.open_lake(settings)
    t0 = time.monotonic()
    names = ("sales", "stock", "items", "movements")
    if sparkutil.shares_disk(settings):
        files, mv_files = _run_on_files(ds, settings, store, names)
    else:
        files, mv_files = _run_through_driver(ds, settings, store, names)
    import pyarrow as pa
    import pyarrow.parquet as pq

    def rows_of(parts: dict[str, bytes]) -> int:
        return sum(pq.ParquetFile(io.BytesIO(b)).metadata.num_rows for b in parts.values())

    rows = rows_of(files)
    keys = [pq.read_table(io.BytesIO(b), columns=["sku", "location_id"]) for b in files.values()]
    series = int(pa.concat_tables(keys).group_by(["sku", "location_id"]).aggregate([]).num_rows) if keys else 0
    catalog.DEMAND_PANEL.write(store, ds, files, meta={"rows": rows, "series": series})
    catalog.MOVEMENT_DAILY.write(store, ds, mv_files, meta={"rows": rows_of(mv_files)})
    secs = round(time.monotonic() - t0, 1)
    log.info("demand panel: %d rows, %d series in %.1fs", rows, series, secs)
    return FeaturesResult(
        catalog.DEMAND_PANEL.path, ds.isoformat(), rows, series, store.uri(catalog.DEMAND_PANEL.prefix(ds)), secs
    )


def _outputs(frames: dict, ds: date, settings: Settings):
    """The panel and the daily movement table, partitioned by sku and sorted by series and date."""
    n = settings.spark_shuffle_partitions
    panel = build_panel(frames["sales"].sparkSession, frames["sales"], frames["stock"], frames["items"], ds)
    movements = movement_daily.build(frames["movements"], frames["stock"])
    return [df.repartition(n, "sku").sortWithinPartitions("sku", "location_id", "date") for df in (panel, movements)]


def _named(parts: list[bytes]) -> dict[str, bytes]:
    # Spark names parts with a random id: stable names keep reruns content-identical
    return {f"part-{i:05d}.parquet": b for i, b in enumerate(parts)}


def _run_on_files(ds: date, settings: Settings, store, names) -> tuple[dict[str, bytes], dict[str, bytes]]:
    from stockwise import spark as sparkutil

    work = Path(tempfile.mkdtemp(prefix="features-", dir=sparkutil.work_dir(settings)))
    try:
        inputs = {}
        for name in names:
            path = work / "in" / f"{name}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(catalog.validated(name).read_bytes(store, ds))
            inputs[name] = path
        with sparkutil.spark_job(settings, "stockwise-features") as spark:
            frames = {n: spark.read.parquet(str(p)) for n, p in inputs.items()}
            for df, out in zip(_outputs(frames, ds, settings), ("out", "movements_out"), strict=True):
                df.write.mode("overwrite").parquet(str(work / out))
        return tuple(  # type: ignore[return-value]
            _named([p.read_bytes() for p in sorted((work / out).glob("part-*.parquet"))])
            for out in ("out", "movements_out")
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run_through_driver(ds: date, settings: Settings, store, names) -> tuple[dict[str, bytes], dict[str, bytes]]:
    import pyarrow.parquet as pq

    from stockwise import spark as sparkutil

    with sparkutil.spark_job(settings, "stockwise-features") as spark:
        frames = {
            n: sparkutil.from_arrow(spark, pq.read_table(io.BytesIO(catalog.validated(n).read_bytes(store, ds))))
            for n in names
        }
        panel, movements = _outputs(frames, ds, settings)
        return _named(sparkutil.parquet_parts(panel)), _named(sparkutil.parquet_parts(movements))


def as_dict(result: FeaturesResult) -> dict:
    return asdict(result)


def build_panel_pandas(settings: Settings, sales, stock, items, ds: date, freq: str = "D", gaps: str = "zero"):
    """Run `build_panel` on pandas inputs and return a pandas panel (benchmarks, the backtest CLI).

    The frames go to Spark as Parquet files in the scratch folder and the panel comes back the
    same way: `createDataFrame` ships the rows inside the tasks (25 MB each on M5) and
    `toPandas` collects through the driver, which together took 15 of the 37 s of the M5 panel.
    On a cluster (executors that do not see this machine's disk) the rows go the slow way.
    """
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from stockwise.spark import spark_job

    if not settings.spark_master.startswith("local"):
        with spark_job(settings, "stockwise-features") as spark:
            kdf = spark.createDataFrame(stock) if stock is not None and len(stock) else None
            idf = spark.createDataFrame(items[["sku", "category", "unit_price"]])
            out = build_panel(spark, spark.createDataFrame(sales), kdf, idf, ds, freq, gaps).toPandas()
        out["date"] = pd.to_datetime(out["date"])
        return out.sort_values(["sku", "location_id", "date"]).reset_index(drop=True)
    settings.scratch.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="panel-", dir=settings.scratch))
    try:
        frames = {"sales": sales, "stock": stock, "items": items[["sku", "category", "unit_price"]]}
        paths = {}
        for name, df in frames.items():
            if df is None or not len(df):
                continue
            paths[name] = str(work / f"{name}.parquet")
            # Spark reads microsecond timestamps only (pandas' are nanoseconds)
            pq.write_table(
                pa.Table.from_pandas(df, preserve_index=False),
                paths[name],
                coerce_timestamps="us",
                allow_truncated_timestamps=True,
            )
        with spark_job(settings, "stockwise-features") as spark:
            read = {n: spark.read.parquet(p) for n, p in paths.items()}
            panel = build_panel(spark, read["sales"], read.get("stock"), read["items"], ds, freq, gaps)
            panel.write.mode("overwrite").parquet(str(work / "panel"))
        out = pq.read_table(work / "panel").to_pandas()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out["date"] = pd.to_datetime(out["date"]).astype("datetime64[ns]")
    return out.sort_values(["sku", "location_id", "date"]).reset_index(drop=True)
