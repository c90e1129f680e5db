"""The one Spark session builder, called at run time by jobs (never at import)."""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from stockwise.settings import Settings

_LOG4J = """\
rootLogger.level = warn
rootLogger.appenderRef.stdout.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n
logger.native.name = org.apache.hadoop.util.NativeCodeLoader
logger.native.level = error
logger.utils.name = org.apache.spark.util.Utils
logger.utils.level = error
logger.shutdown.name = org.apache.spark.util.ShutdownHookManager
logger.shutdown.level = error
"""


def spark_session(settings: Settings, app: str = "stockwise") -> SparkSession:
    """A Spark session for `settings.spark_master`; local mode binds loopback and stays quiet."""
    # workers must run this interpreter (a venv), not whatever python3 is first on PATH
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    if settings.spark_master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    if "SPARK_CONF_DIR" not in os.environ:
        conf_dir = Path(tempfile.gettempdir()) / "stockwise-spark-conf"
        conf_dir.mkdir(exist_ok=True)
        (conf_dir / "log4j2.properties").write_text(_LOG4J)
        os.environ["SPARK_CONF_DIR"] = str(conf_dir)

    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.appName(app)
        .master(settings.spark_master)
        .config("spark.sql.shuffle.partitions", str(settings.spark_shuffle_partitions))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.driver.memory", "2g")
    )
    if not settings.spark_master.startswith("local"):
        # executors on one host need not share a disk (containers, the stack's isolated workers):
        # fetch shuffle blocks from each other over the network, never from a path on "this" host
        builder = builder.config("spark.shuffle.readHostLocalDisk", "false")
    if settings.spark_master.startswith("local"):
        builder = (
            builder.config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            # on one machine, adaptive execution folds a shuffle of a few MB into one partition,
            # i.e. one core: the M5 panel took 21 s instead of 16 (and 9 s instead of 6 warm)
            .config("spark.sql.adaptive.coalescePartitions.enabled", "false")
            # the throughput collector: short jobs spend less in GC than under G1 (17 s vs 21)
            .config("spark.driver.extraJavaOptions", "-XX:+UseParallelGC")
        )
    return builder.getOrCreate()


_early: dict = {}  # a session being started ahead of its job (see `prestart`)


def prestart(settings: Settings, app: str = "stockwise") -> None:
    """Start the session of the next `spark_job` in the background: the JVM and the session
    take 4-6 s to start, which a caller overlaps with reading its inputs (`stockwise backtest`).
    Nothing is started when a session is already active (tests share one); a session that
    fails to start here is started again, and fails with its error, by `spark_job`."""
    import threading

    from pyspark.sql import SparkSession

    if SparkSession.getActiveSession() is not None or "thread" in _early:
        return

    def start() -> None:
        try:
            _early["session"] = spark_session(settings, app)
        except Exception as e:  # noqa: BLE001 (reported by spark_job, which starts it again in its thread)
            _early["error"] = e

    _early["thread"] = threading.Thread(target=start, name="spark-prestart", daemon=True)
    _early["thread"].start()


def cancel_prestart() -> None:
    """Stop a session `prestart` started for a job that will not run (its caller failed first)."""
    if "thread" in _early:
        _early.pop("thread").join()
    _early.pop("error", None)
    early = _early.pop("session", None)
    if early is not None:
        early.stop()


@contextmanager
def spark_job(settings: Settings, app: str = "stockwise") -> Iterator[SparkSession]:
    """A session for one job: stopped at the end only if this job started it (tests share one),
    or `prestart` started it for this job."""
    from pyspark.sql import SparkSession

    if "thread" in _early:
        _early.pop("thread").join()
    early = _early.pop("session", None)
    if "error" in _early:
        logging.getLogger(__name__).info("the session started ahead failed (%s): starting again", _early.pop("error"))
    existing = None if early is not None else SparkSession.getActiveSession()
    spark = early or existing or spark_session(settings, app)
    try:
        yield spark
    finally:
        if existing is None:
            spark.stop()


# --- data paths: where executors may not see this process's disk ------------------------------
def shares_disk(settings: Settings) -> bool:
    """Whether Spark's executors see this process's files: in local mode, or on a cluster whose
    executors all mount `STOCKWISE_SPARK_SCRATCH`. Otherwise rows go to them through the driver
    (`from_arrow`) and come back as Parquet bytes (`parquet_parts`), never through a local folder."""
    return settings.spark_master.startswith("local") or settings.spark_scratch is not None


def work_dir(settings: Settings) -> Path:
    """The folder for rows handed to and from Spark when `shares_disk`."""
    path = settings.spark_scratch or settings.scratch
    path.mkdir(parents=True, exist_ok=True)
    return path


def from_arrow(spark: SparkSession, table):
    """A Spark frame of a pyarrow table, shipped from the driver (Spark reads microsecond times)."""
    import pyarrow as pa

    fields = []
    for f in table.schema:
        if pa.types.is_timestamp(f.type) and f.type.unit == "ns":
            f = pa.field(f.name, pa.timestamp("us", f.type.tz), f.nullable)
        fields.append(f)
    return spark.createDataFrame(table.cast(pa.schema(fields), safe=False))


def parquet_parts(df) -> list[bytes]:
    """Each partition of `df` as one Parquet file's bytes, in partition order, row order kept.

    The executors encode their own rows; the driver only receives the compressed files, so a job
    can write its output to the lake without a folder shared with the executors."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyspark.sql import functions as F

    cols = df.columns
    out = pa.schema([("_pid", pa.int32()), ("data", pa.binary())])

    def encode(batches):
        batches = list(batches)
        if not batches:
            return
        table = pa.Table.from_batches(batches)
        pid = table.column("_pid")[0].as_py()
        buf = io.BytesIO()
        pq.write_table(table.select(cols), buf)
        yield pa.RecordBatch.from_pydict({"_pid": [pid], "data": [buf.getvalue()]}, schema=out)

    rows = df.withColumn("_pid", F.spark_partition_id()).mapInArrow(encode, "_pid int, data binary").collect()
    return [r["data"] for r in sorted(rows, key=lambda r: r["_pid"])]


def one_slot_per_key(spark: SparkSession, keys) -> dict:
    """For each of n keys, a distinct integer that Spark's hash partitioning into n partitions
    sends to a partition of its own.

    `repartition(n, key)` hashes the keys, and n keys hashed into n partitions collide (5 into 5
    leave about two partitions empty and one task fitting several keys): a column of these slots
    instead, `repartition(n, slot)`, gives every key its own task. The slots are `id`s of
    `spark.range` whose `pmod(hash(id), n)` is each bucket in turn: the same Murmur3 hash of a
    bigint that the executors compute, so a slot column must stay a bigint (int64)."""
    from pyspark.sql import functions as F

    keys = list(keys)
    n = len(keys)
    if n == 0:
        return {}
    found: dict[int, int] = {}
    span = 8 * n
    while len(found) < n:  # every bucket gets hit within a few n ids (Murmur3 spreads them)
        rows = (
            spark.range(0, span)
            .select("id", F.expr(f"pmod(hash(id), {n})").alias("bucket"))
            .groupBy("bucket")
            .agg(F.min("id").alias("id"))
            .collect()
        )
        found = {r["bucket"]: r["id"] for r in rows}
        span *= 4
    return {key: found[b] for b, key in enumerate(keys)}
