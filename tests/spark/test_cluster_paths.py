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
