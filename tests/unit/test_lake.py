import json

import pandas as pd
import pytest

from stockwise import lake
from stockwise.errors import LakeError


@pytest.fixture
def store(tmp_path):
    return lake.LocalStore(tmp_path / "lake")


def test_partition_round_trip_and_manifest_last(store):
    df = pd.DataFrame({"a": [1, 2], "t": pd.to_datetime(["2025-01-01", "2025-01-02"])})
    part = lake.write_partition(store, "plans", "2025-01-02", {"x.parquet": lake.parquet_bytes(df)}, meta={"n": 2})
    back = lake.read_parquet(store, "plans", "2025-01-02")
    assert back["a"].tolist() == [1, 2]
    m = json.loads(store.get("plans/ds=2025-01-02/manifest.json"))
    assert m["files"]["x.parquet"]["key"] == part.key("x.parquet")
    assert m["meta"] == {"n": 2}


def test_rerun_with_same_content_leaves_same_files(store):
    files = {"a.csv": b"x,y\n1,2\n"}
    lake.write_partition(store, "plans", "2025-01-02", files)
    before = {k: store.get(k) for k in store.list("plans/")}
    lake.write_partition(store, "plans", "2025-01-02", files)
    after = {k: store.get(k) for k in store.list("plans/")}
    assert before == after


def test_overwrite_removes_old_version_unless_history_is_kept(store):
    lake.write_partition(store, "plans", "d", {"a.csv": b"1"})
    lake.write_partition(store, "plans", "d", {"a.csv": b"2"})
    keys = store.list("plans/")
    assert len([k for k in keys if k.endswith("a.csv")]) == 1
    assert lake.read_file(store, "plans", "d", "a.csv") == b"2"

    lake.write_partition(store, "raw", "d", {"a.csv": b"1"}, keep_history=True)
    lake.write_partition(store, "raw", "d", {"a.csv": b"2"}, keep_history=True)
    assert len([k for k in store.list("raw/") if k.endswith("a.csv")]) == 2
    assert lake.read_file(store, "raw", "d", "a.csv") == b"2"


def test_reader_sees_old_version_until_manifest_switches(store):
    lake.write_partition(store, "plans", "d", {"a.csv": b"old"})
    # a writer that died after its data and before its manifest leaves readers on the old version
    store.put("plans/ds=d/v=deadbeef/a.csv", b"half-written")
    assert lake.read_file(store, "plans", "d", "a.csv") == b"old"


def test_errors_name_the_place(store):
    with pytest.raises(LakeError, match="has no manifest"):
        lake.read_manifest(store, "plans", "2030-01-01")
    lake.write_partition(store, "plans", "d", {"a.csv": b"1"})
    with pytest.raises(LakeError, match="has no file 'b.csv'"):
        lake.read_file(store, "plans", "d", "b.csv")
    with pytest.raises(LakeError, match="escapes"):
        store.put("../outside", b"x")
    with pytest.raises(LakeError, match="empty partition"):
        lake.write_partition(store, "plans", "d", {})


def test_open_lake_rejects_unknown_schemes(tmp_path):
    from stockwise.settings import Settings

    with pytest.raises(LakeError, match="unsupported lake URL"):
        lake.open_lake(Settings(lake_url="gs://bucket/x"))
    assert isinstance(lake.open_lake(Settings(lake_url=str(tmp_path))), lake.LocalStore)
