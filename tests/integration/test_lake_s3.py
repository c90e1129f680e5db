"""The lake over the S3 protocol (moto's server on 127.0.0.1, boto3 with endpoint_url)."""

import pandas as pd
import pytest

from stockwise import lake
from stockwise.errors import LakeError
from stockwise.settings import Settings
from support.s3 import make_bucket

pytestmark = pytest.mark.integration


@pytest.fixture
def s3_store(s3_endpoint):
    make_bucket(s3_endpoint, "stockwise-lake")
    return lake.open_lake(Settings(lake_url="s3://stockwise-lake/prod", s3_endpoint_url=s3_endpoint))


def test_partitions_round_trip_over_http(s3_store):
    assert isinstance(s3_store, lake.S3Store)
    df = pd.DataFrame({"sku": ["A", "B"], "qty": [1.0, 2.0]})
    lake.write_partition(s3_store, "plans", "2025-12-31", {"p.parquet": lake.parquet_bytes(df), "p.csv": b"a\n"})
    pd.testing.assert_frame_equal(lake.read_parquet(s3_store, "plans", "2025-12-31", "p.parquet"), df)
    assert s3_store.uri("plans/x").startswith("s3://stockwise-lake/prod/plans/")
    before = s3_store.list("plans/")
    lake.write_partition(s3_store, "plans", "2025-12-31", {"p.parquet": lake.parquet_bytes(df), "p.csv": b"a\n"})
    assert s3_store.list("plans/") == before  # idempotent rerun
    lake.write_partition(s3_store, "plans", "2025-12-31", {"p.csv": b"b\n"})
    keys = s3_store.list("plans/")
    # the partition's manifest, and the one version left: its data and its own (pending) manifest
    assert len(keys) == 3 and keys[0].endswith("/manifest.json")
    assert keys[1].endswith("/_manifest.json") and keys[2].endswith("/p.csv")
    with pytest.raises(LakeError, match="not in the lake"):
        s3_store.get("plans/nope")


def test_bad_bucket_name_is_explained():
    with pytest.raises(LakeError, match="3 or more characters"):
        lake.S3Store("s3://ab/x")


def test_the_run_lock_holds_on_s3_conditional_writes(s3_store):
    from stockwise import runlock
    from stockwise.errors import LakeConflict, RunLocked

    runlock.acquire(s3_store, "plan/2025-12-31", "run-A")
    with pytest.raises(RunLocked, match="held by another run"):
        runlock.acquire(s3_store, "plan/2025-12-31", "run-B")
    etag = s3_store.get_versioned("locks/plan/2025-12-31.json")[1]
    with pytest.raises(LakeConflict):
        s3_store.put_if("locks/plan/2025-12-31.json", b"{}", None)
    with pytest.raises(LakeConflict):
        s3_store.put_if("locks/plan/2025-12-31.json", b"{}", '"not-the-etag"')
    assert s3_store.get_versioned("locks/plan/2025-12-31.json")[1] == etag
    assert runlock.release(s3_store, "plan/2025-12-31", "run-A")
    assert runlock.acquire(s3_store, "plan/2025-12-31", "run-B").owner == "run-B"
