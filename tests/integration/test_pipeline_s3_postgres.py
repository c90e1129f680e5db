"""Every stage in production shape: the ERP in PostgreSQL, the lake on an S3 server, run twice."""

import json

import pytest
import sqlalchemy as sa

from stockwise import lake
from stockwise.cli import main
from stockwise.erp.demo import write
from stockwise.settings import Settings
from support.demo import TINY_DS
from support.postgres import fresh_database
from support.s3 import make_bucket

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.spark]


def test_run_twice_on_s3_and_postgres(home, tiny_demo, postgres_url, s3_endpoint, monkeypatch, capsys):
    erp = fresh_database(postgres_url, "stockwise_test_pipeline")
    write(tiny_demo, erp, f"sqlite:///{home / 'truth.db'}")
    make_bucket(s3_endpoint, "stockwise-pipeline")
    monkeypatch.setenv("STOCKWISE_ERP_URL", erp)
    monkeypatch.setenv("STOCKWISE_LAKE_URL", "s3://stockwise-pipeline/lake")
    monkeypatch.setenv("STOCKWISE_S3_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("STOCKWISE_SPARK_MASTER", "local[1]")

    assert main(["-q", "run", "--ds", TINY_DS.isoformat()]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["reorder_plan_csv"].startswith("s3://stockwise-pipeline/lake/plans/ds=2025-12-31/")
    store = lake.open_lake(Settings())
    first = {k: store.get(k) for k in store.list("plans/")}
    plan = lake.read_parquet(store, "plans", TINY_DS.isoformat(), "reorder_plan.parquet")
    assert len(plan) > 0 and (plan["order_qty"] % plan["pack_size"] == 0).all()

    assert main(["-q", "run", "--ds", TINY_DS.isoformat()]) == 0
    assert {k: store.get(k) for k in store.list("plans/")} == first
    eng = sa.create_engine(erp)
    with eng.connect() as c:
        n = c.execute(sa.text("SELECT count(*), count(DISTINCT (sku, location_id)) FROM purchase_requisitions")).one()
    assert n[0] == n[1] == len(plan)
