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
    assert len(keys) == 2 and keys[0].endswith("manifest.json") and keys[1].endswith("p.csv")
    with pytest.raises(LakeError, match="not in the lake"):
        s3_store.get("plans/nope")


def test_bad_bucket_name_is_explained():
    with pytest.raises(LakeError, match="3 or more characters"):
        lake.S3Store("s3://ab/x")
