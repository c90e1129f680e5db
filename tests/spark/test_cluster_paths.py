"""Spark jobs on a cluster whose executors see none of the driver's folders: rows are shipped from
the driver and each output partition comes back as Parquet bytes (stockwise.spark). Checked here in
local mode against the shared-folder path; the stack tests run it on a real standalone cluster."""

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stockwise import catalog, lake
from stockwise import spark as sparkutil
from stockwise.orchestration import call
from stockwise.settings import Settings
from stockwise_features import demand_panel
from support.demo import TINY_DS

pytestmark = [pytest.mark.spark]


def _table(data: bytes) -> pa.Table:
    t = pq.read_table(io.BytesIO(data))
    return t.replace_schema_metadata(None)


def test_partitions_come_back_as_the_parquet_files_spark_itself_writes(spark, tmp_path):
    df = (
        spark.range(2000)
        .selectExpr(
            "cast(id % 13 as string) as sku",
            "id",
            "cast(id as double) / 3 as x",
            "date_add(date'2025-01-01', cast(id % 40 as int)) as date",
            "if(id % 5 = 0, null, id % 5) as maybe",
        )
        .repartition(3, "sku")
        .sortWithinPartitions("sku", "id")
    )
    parts = sparkutil.parquet_parts(df)
    df.write.parquet(str(tmp_path / "out"))
    files = [p.read_bytes() for p in sorted((tmp_path / "out").glob("part-*.parquet"))]
    assert len(parts) == len(files) == 3
    for mine, spark_s in zip(parts, files, strict=True):
        assert _table(mine).equals(_table(spark_s))


def test_a_frame_shipped_from_the_driver_keeps_its_values_and_times(spark):
    t = pa.table(
        {
            "ts": pa.array([1_700_000_000_123_456_789, None], pa.timestamp("ns")),
            "n": pa.array([1, None], pa.int64()),
            "s": ["a", None],
        }
    )
    back = sparkutil.from_arrow(spark, t).toPandas()
    assert str(back["ts"][0]) == "2023-11-14 22:13:20.123456"  # microseconds, as Spark keeps them
    assert back["n"].isna().tolist() == [False, True] and back["s"].tolist() == ["a", None]


@pytest.mark.parametrize("n", [2, 5, 23])
def test_each_key_gets_a_spark_task_of_its_own(spark, n):
    """n keys hashed into n partitions collide (one task fits several, others idle): the slots
    of `one_slot_per_key` send every key to its own task, in a grouped pandas UDF as the
    partitioned forecaster runs it."""
    import pandas as pd

    keys = [f"LOC{i:03d}" for i in range(n)]
    slots = sparkutil.one_slot_per_key(spark, keys)
    assert sorted(slots) == keys and len(set(slots.values())) == n
    rows = pd.DataFrame({"key": [k for k in keys for _ in range(4)], "x": 1.0})
    rows["_slot"] = rows["key"].map(slots).astype("int64")

    def where(key, pdf):
        from pyspark import TaskContext

        return pd.DataFrame({"key": [key[-1]], "task": [TaskContext.get().partitionId()], "rows": [len(pdf)]})

    out = (
        spark.createDataFrame(rows)
        .repartition(n, "_slot")
        .groupBy("_slot", "key")
        .applyInPandas(where, "key string, task int, rows int")
        .toPandas()
    )
    assert sorted(out["key"]) == keys and (out["rows"] == 4).all()
    assert out["task"].nunique() == n  # one key per task: no task fits two while another idles
    hashed = (
        spark.createDataFrame(rows)
        .repartition(n, "key")
        .groupBy("key")
        .applyInPandas(where, "key string, task int, rows int")
    )
    if n == 5:  # what the names alone did: 5 locations into 5 partitions share tasks
        assert hashed.toPandas()["task"].nunique() < n


@pytest.mark.slow
def test_the_feature_job_writes_the_same_panel_through_the_driver_as_through_a_shared_folder(
    demo_home, spark, monkeypatch
):
    ds = TINY_DS
    call("extract", ds)
    call("validate", ds)
    settings = Settings(spark_master="local[1]", spark_shuffle_partitions=2)
    store = lake.open_lake(settings)

    def written() -> dict[str, pa.Table]:
        out = {}
        for dataset in (catalog.DEMAND_PANEL, catalog.MOVEMENT_DAILY):
            manifest = dataset.manifest(store, ds)  # the partition's current version
            for name in manifest.files:
                out[f"{dataset.path}/{name}"] = _table(dataset.read_bytes(store, ds, name))
        return out

    assert sparkutil.shares_disk(settings)
    demand_panel.run(ds, settings)
    on_files = written()
    monkeypatch.setattr(sparkutil, "shares_disk", lambda s: False)
    monkeypatch.setattr(sparkutil, "work_dir", lambda s: pytest.fail("no folder may be used"))
    demand_panel.run(ds, settings)
    through_driver = written()
    assert on_files.keys() == through_driver.keys() and len(on_files) >= 2
    for key, table in on_files.items():
        assert through_driver[key].equals(table), key
