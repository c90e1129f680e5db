"""Airflow Connections become the settings the jobs read; a STOCKWISE_* variable stays the override."""

import json
from dataclasses import dataclass

import pytest

from stockwise import connections
from stockwise.settings import Settings


@dataclass
class Conn:
    conn_type: str | None = None
    host: str | None = None
    schema: str | None = None
    login: str | None = None
    password: str | None = None
    port: int | None = None
    extra: str | None = None

    @property
    def extra_dejson(self) -> dict:
        return json.loads(self.extra) if self.extra else {}


ERP = Conn("postgres", "db.internal", "erp", "stockwise", "p@ss/word", 5433)
LAKE = Conn(
    "aws",
    login="AKIA1",
    password="secret-key",
    extra=json.dumps(
        {"lake_url": "s3://lake/stockwise", "endpoint_url": "http://127.0.0.1:9000", "region_name": "eu-west-1"}
    ),
)
MLFLOW = Conn("http", "mlflow.internal", "https", "admin", "mlflow-pw", 5000)


def test_the_three_connections_give_the_settings_of_the_erp_lake_and_mlflow(monkeypatch):
    env = connections.environment({"stockwise_erp": ERP, "stockwise_lake": LAKE, "stockwise_mlflow": MLFLOW}, {})
    assert env["STOCKWISE_ERP_URL"] == "postgresql+psycopg2://stockwise:p%40ss%2Fword@db.internal:5433/erp"
    assert env["STOCKWISE_MLFLOW_TRACKING_URI"] == "https://mlflow.internal:5000"
    assert (env["MLFLOW_TRACKING_USERNAME"], env["MLFLOW_TRACKING_PASSWORD"]) == ("admin", "mlflow-pw")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    s = Settings()
    assert s.lake == "s3://lake/stockwise" and s.s3_endpoint_url == "http://127.0.0.1:9000"
    assert s.aws_region == "eu-west-1" and s.aws_secret_access_key.get_secret_value() == "secret-key"
    import sqlalchemy as sa

    url = sa.engine.make_url(s.erp)  # the password survives its quoting
    assert (url.password, url.port, url.database) == ("p@ss/word", 5433, "erp")


def test_a_stockwise_variable_wins_over_its_connection_and_missing_connections_set_nothing():
    env = connections.environment(
        {"stockwise_erp": ERP, "stockwise_lake": None, "stockwise_mlflow": MLFLOW},
        {"STOCKWISE_ERP_URL": "sqlite:////tmp/erp.db", "MLFLOW_TRACKING_PASSWORD": "from-env"},
    )
    assert "STOCKWISE_ERP_URL" not in env and "MLFLOW_TRACKING_PASSWORD" not in env
    assert not any(k.startswith("STOCKWISE_LAKE") or "AWS" in k for k in env)
    assert env["MLFLOW_TRACKING_USERNAME"] == "admin"
    assert connections.environment({}, {}) == {}


def test_an_unusable_connection_says_which_and_what_is_missing():
    with pytest.raises(connections.ConnectionError_, match="stockwise_erp.*'ftp'"):
        connections.environment({"stockwise_erp": Conn("ftp", "h", "db")}, {})
    with pytest.raises(connections.ConnectionError_, match="stockwise_lake.*lake_url"):
        connections.environment({"stockwise_lake": Conn("aws", login="k")}, {})
    env = connections.environment(
        {"stockwise_erp": Conn("x", extra=json.dumps({"sqlalchemy_url": "sqlite:///e.db"}))}, {}
    )
    assert env == {"STOCKWISE_ERP_URL": "sqlite:///e.db"}


def test_the_events_connection_gives_the_redis_url_of_the_queue():
    env = connections.environment(
        {"stockwise_events": Conn("redis", "10.0.0.5", password="r/p w", port=6380, extra='{"db": 3}')}, {}
    )
    assert env == {"STOCKWISE_EVENTS_URL": "redis://:r%2Fp%20w@10.0.0.5:6380/3"}
    import redis

    kw = redis.connection.parse_url(env["STOCKWISE_EVENTS_URL"])  # redis-py reads back what the connection holds
    assert (kw["password"], kw["host"], kw["port"], kw["db"]) == ("r/p w", "10.0.0.5", 6380, 3)
    with pytest.raises(connections.ConnectionError_, match="stockwise_events.*host"):
        connections.environment({"stockwise_events": Conn("redis")}, {})
