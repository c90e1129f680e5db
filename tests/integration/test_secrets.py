"""No credential is ever printed, logged or stored: the CLI and the planning DAG run with known fake
secrets (ERP password, S3 keys, MLflow token, webhook URL), then every output, log line, XCom,
lake object, failure record and MLflow run is searched for them."""

import os

import mlflow
import pandas as pd
import pytest

from stockwise.cli import main
from stockwise.settings import Settings
from support.demo import TINY_DS
from support.postgres import fresh_database
from support.s3 import make_bucket

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.spark, pytest.mark.dags]
D = TINY_DS.isoformat()
SECRETS = {
    "erp password": "FakeErpPassw0rd-7f3a9",
    "s3 key id": "FAKEKEYIDX7F3A9",
    "s3 secret": "FakeS3Secret-7f3a9/x",
    "mlflow token": "FakeMlflowToken-7f3a9",
    "webhook token": "FakeHookToken-7f3a9",
}


def _leaks(text: str) -> list[str]:
    return [name for name, value in SECRETS.items() if value in text]


@pytest.fixture
def secret_env(home, postgres_url, s3_endpoint, monkeypatch):
    base = fresh_database(postgres_url, "stockwise_test_secrets")
    user, _, rest = base.partition("://")[2].partition("@")
    erp = f"postgresql+psycopg2://{user.split(':')[0]}:{SECRETS['erp password']}@{rest}"  # trust auth: any password
    make_bucket(s3_endpoint, "stockwise-secrets")
    monkeypatch.setenv("STOCKWISE_ERP_URL", erp)
    monkeypatch.setenv("STOCKWISE_LAKE_URL", "s3://stockwise-secrets/lake")
    monkeypatch.setenv("STOCKWISE_S3_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("STOCKWISE_AWS_ACCESS_KEY_ID", SECRETS["s3 key id"])
    monkeypatch.setenv("STOCKWISE_AWS_SECRET_ACCESS_KEY", SECRETS["s3 secret"])
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", SECRETS["mlflow token"])
    # an unreachable webhook: the failure below tries to post its record there
    monkeypatch.setenv("STOCKWISE_ALERT_WEBHOOK_URL", f"http://127.0.0.1:9/hook?token={SECRETS['webhook token']}")
    monkeypatch.setenv("STOCKWISE_SPARK_MASTER", "local[1]")
    return erp


def test_no_secret_in_any_output_log_xcom_lake_object_or_mlflow_run(airflow_db, secret_env, capsys, caplog):
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    from stockwise import lake

    assert main(["demo-erp", "--skus", "12", "--stores", "2", "--days", "150", "--seed", "11", "--end", D]) == 0
    assert main(["run", "--ds", D]) == 0
    assert main(["where", "--ds", D]) == 0
    # a failing run: its error, failure record and webhook attempt carry no secret either
    assert main(["run", "--ds", "2026-11-30"]) == 2
    out = capsys.readouterr()
    dag = DagBag(dag_folder=str(Settings().great_expectations_dir.parent / "dags")).dags["inventory_planning"]
    dr = dag.test(logical_date=pd.Timestamp(TINY_DS, tz="UTC").to_pydatetime())
    assert str(dr.state) == "success"

    assert "postgres:***@" in out.out  # shown, masked
    assert _leaks(out.out) == [] and _leaks(out.err) == [] and _leaks(caplog.text) == []
    with create_session() as session:
        xcoms = [str(x.value) for x in session.query(XComModel).all()]
    assert xcoms and _leaks("\n".join(xcoms)) == []
    store = lake.open_lake(Settings())
    keys = store.list("")
    assert any(k.startswith("runs/failures/") for k in keys) and any(k.startswith("plans/") for k in keys)
    for k in keys:
        assert _leaks(store.get(k).decode("latin-1")) == [], k
    mlflow.set_tracking_uri(Settings().mlflow_uri)
    client = mlflow.MlflowClient()
    exps = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(exps)
    assert runs
    for r in runs:
        assert _leaks(repr(r.data.params) + repr(r.data.tags)) == [], r.info.run_id
    for root, _, files in os.walk(Settings().resolved_home / "mlartifacts"):
        for f in files:
            assert _leaks(open(os.path.join(root, f), "rb").read().decode("latin-1")) == [], f
