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


def test_lake_files_are_readable_by_the_team_not_private(store, tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        s = lake.LocalStore(tmp_path / "shared-lake")
        lake.write_partition(s, "plans", "d", {"a.csv": b"1"})
    finally:
        os.umask(old)
    modes = {k: stat.S_IMODE(os.stat(s.uri(k)).st_mode) for k in s.list("plans/")}
    assert modes and set(modes.values()) == {0o644}, modes


def test_a_scenario_writes_only_in_its_corner_and_reads_the_days_inputs(store):
    lake.write_partition(store, "validated/sales", "d", {"data.parquet": b"official input"})
    lake.write_partition(store, "plans", "d", {"reorder_plan.csv": b"official plan"})
    official_before = {k: store.get(k) for k in store.list("")}
    sc = lake.ScenarioStore(store, "whatif-1")
    # the day's inputs come from the official run; its outputs are not visible to the scenario
    assert lake.read_file(sc, "validated/sales", "d", "data.parquet") == b"official input"
    assert not lake.has_partition(sc, "plans", "d")
    lake.write_partition(sc, "plans", "d", {"reorder_plan.csv": b"what-if plan"})
    lake.write_partition(sc, "plans", "d", {"reorder_plan.csv": b"what-if plan 2"})  # cleans its own versions
    assert lake.read_file(sc, "plans", "d", "reorder_plan.csv") == b"what-if plan 2"
    assert {k: store.get(k) for k in store.list("") if not k.startswith("scenarios/")} == official_before
    assert all(k.startswith("scenarios/whatif-1/plans/") for k in store.list("scenarios/"))
    assert sc.uri("plans/ds=d/manifest.json").endswith("scenarios/whatif-1/plans/ds=d/manifest.json")
    assert sc.reads_official("validated/sales/ds=d/manifest.json")


def test_a_staged_version_is_invisible_until_committed(store):
    lake.write_partition(store, "plans", "d", {"a.csv": b"old"})
    part = lake.stage_partition(store, "plans", "d", {"a.csv": b"new"}, {"n": 1})
    assert lake.read_file(store, "plans", "d", "a.csv") == b"old"
    assert lake.staged_partition(store, "plans", "d", part.version).meta == {"n": 1}
    lake.commit_partition(store, lake.staged_partition(store, "plans", "d", part.version))
    assert lake.read_file(store, "plans", "d", "a.csv") == b"new"
    assert len([k for k in store.list("plans/") if k.endswith("a.csv")]) == 1


def test_text_in_a_numeric_column_is_stored_as_pulled(store):
    df = pd.DataFrame({"qty": [1.0, "lots", None, 3]})
    back = pd.read_parquet(__import__("io").BytesIO(lake.parquet_bytes(df)))
    assert back["qty"].tolist() == ["1.0", "lots", None, "3"]


def test_a_key_cannot_escape_the_lake_folder(store, tmp_path):
    for key in ("../outside.json", "plans/../../x", "/etc/passwd"):
        with pytest.raises(LakeError, match="escapes the lake root"):
            store.put(key, b"x")
    assert not (tmp_path / "outside.json").exists()


def test_series_come_whole_in_batches_and_a_scattered_series_is_refused(store):
    df = pd.DataFrame(
        {
            "sku": ["a"] * 5 + ["b"] * 3 + ["c"] * 4,
            "location_id": "L",
            "q": range(12),
        }
    )
    lake.write_partition(store, "mv", "d", {"part-0.parquet": lake.parquet_bytes(df)})
    batches = list(lake.iter_series(store, "mv", "d", ["sku", "location_id"], rows=4))
    assert [sorted(set(b["sku"])) for b in batches] == [["a"], ["b"], ["c"]]
    assert pd.concat(batches, ignore_index=True).equals(df)
    assert [len(b) for b in lake.iter_series(store, "mv", "d", ["sku", "location_id"], rows=6)] == [5, 3, 4]
    scattered = pd.concat([df, df.head(1)], ignore_index=True)  # a row of "a" after "c"
    lake.write_partition(store, "mv", "e", {"part-0.parquet": lake.parquet_bytes(scattered)})
    with pytest.raises(LakeError, match=r"mv/ds=e/part-0.parquet: series \('a', 'L'\) appears in two places"):
        list(lake.iter_series(store, "mv", "e", ["sku", "location_id"], rows=100))


def test_the_demand_panel_reads_sorted_with_pandas_types_and_its_last_days(store):
    import io
    from datetime import date

    import pyarrow as pa
    import pyarrow.parquet as pq

    from stockwise import catalog

    def part(skus, lag):
        t = pa.table(
            {
                "sku": pa.array([s for s in skus for _ in range(3)]),
                "location_id": pa.array(["L"] * 3 * len(skus)),
                "date": pa.array([date(2025, 1, d) for _ in skus for d in (3, 1, 2)], pa.date32()),
                "qty": pa.array([1.0] * 3 * len(skus)),
                "lag_7": pa.array(lag * len(skus), pa.int64()),
            }
        )
        buf = io.BytesIO()
        pq.write_table(t, buf)
        return buf.getvalue()

    # as Spark writes it: parts by sku; an int column with a gap in one part only
    files = {"part-00000.parquet": part(["b"], [None, 1, 2]), "part-00001.parquet": part(["a"], [1, 2, 3])}
    catalog.DEMAND_PANEL.write(store, "2025-01-03", files)
    p = catalog.read_panel(store, date(2025, 1, 3))
    assert list(zip(p["sku"], p["date"].dt.day, strict=True)) == [(s, d) for s in "ab" for d in (1, 2, 3)]
    assert str(p["date"].dtype) == "datetime64[ns]" and p["lag_7"].dtype == "float64"  # as pandas parts made it
    assert p.index.tolist() == list(range(6))
    last = catalog.read_panel(store, date(2025, 1, 3), days=1, columns=["sku", "location_id", "date", "lag_7"])
    assert last["date"].dt.day.tolist() == [3, 3] and last.columns.tolist() == ["sku", "location_id", "date", "lag_7"]


def test_the_forecasters_matrices_built_part_by_part_equal_those_of_the_whole_panel(store):
    """The training job never holds the long panel in pandas (5 GB at 20,000 series): it builds
    its matrices from the stored parts, which must give exactly `to_matrix` of the whole."""
    from datetime import date

    import numpy as np

    from stockwise import catalog
    from stockwise_training.forecast.panel import matrix_from_parts, to_matrix

    rng = np.random.default_rng(3)

    def part(skus):
        n = 5
        rows = [(s, loc, d) for s in skus for loc in ("L2", "L1") for d in range(n) if (s, d) != ("c", 0)]
        return pd.DataFrame(
            {
                "sku": [r[0] for r in rows],
                "location_id": [r[1] for r in rows],
                "date": pd.to_datetime("2025-01-01") + pd.to_timedelta([r[2] for r in rows], "D"),
                "qty": rng.poisson(2, len(rows)).astype(float),
                "stockout": rng.random(len(rows)) < 0.2,
                "lag_7": pd.array([None if i % 4 == 0 else i for i in range(len(rows))], "Int32"),
                "category": "x",
                "dow": np.arange(len(rows), dtype="int32") % 7,
            }
        )

    # as Spark writes it: series spread over parts in no order, a late start ("c"), an int column with gaps
    files = {
        "part-00000.parquet": lake.parquet_bytes(part(["c", "a"])),
        "part-00001.parquet": lake.parquet_bytes(part(["b"])),
    }
    catalog.DEMAND_PANEL.write(store, "2025-01-05", files)
    ds = date(2025, 1, 5)
    whole = to_matrix(catalog.read_panel(store, ds), "D")
    schema = catalog.panel_schema(store, ds)
    parts = matrix_from_parts(lambda cols: catalog.panel_parts(store, ds, columns=cols), "D", schema)
    assert parts.keys.equals(whole.keys) and parts.dates.equals(whole.dates)
    assert list(parts.cols) == list(whole.cols) == ["qty", "stockout", "lag_7", "dow"]
    for c in whole.cols:
        assert np.array_equal(parts.cols[c], whole.cols[c], equal_nan=True), c
    assert np.isnan(parts.cols["qty"][parts.keys.index[parts.keys["sku"] == "c"], 0]).all()  # before "c" started
    read = lambda cols: catalog.panel_parts(store, ds, columns=cols)  # noqa: E731
    some = matrix_from_parts(read, "D", schema, keep=lambda c: c != "dow")
    assert list(some.cols) == ["qty", "stockout", "lag_7"]
