"""Airflow Connections as Stockwise settings.

On a real Airflow deployment the ERP, the lake and MLflow are Airflow Connections, kept (encrypted)
in the metadata database or a secrets backend and edited in the UI (Admin > Connections):

- `stockwise_erp`: the ERP database. `conn_type` postgres (host, port, login, password, schema =
  the database), or any type with `extra` `{"sqlalchemy_url": "..."}`;
- `stockwise_lake`: the lake. `conn_type` aws: login = access key id, password = secret key,
  `extra` `{"lake_url": "s3://bucket/prefix", "endpoint_url": "...", "region_name": "..."}`; or
  `extra` `{"lake_url": "/a/folder"}` for a folder every worker mounts;
- `stockwise_mlflow`: the tracking server. `conn_type` http: schema = http or https, host, port,
  login and password for MLflow's basic-auth app;
- `stockwise_events`: the Redis of the stock-event queue. `conn_type` redis: host, port,
  password, `extra` `{"db": 0}`; the `stock_events` DAG's trigger listens through it too.

A task turns them into the `STOCKWISE_*` (and `MLFLOW_TRACKING_*`) variables the jobs read, but
never over a variable that is already set: `STOCKWISE_*` stays the override. This module only maps
(it imports no Airflow); `stockwise.orchestration` looks the connections up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

ERP, LAKE, MLFLOW, EVENTS = "stockwise_erp", "stockwise_lake", "stockwise_mlflow", "stockwise_events"
NAMES = (ERP, LAKE, MLFLOW, EVENTS)

_SQLALCHEMY_DRIVERS = {"postgres": "postgresql+psycopg2", "postgresql": "postgresql+psycopg2", "mysql": "mysql+pymysql"}


class ConnectionLike(Protocol):
    conn_type: str | None
    host: str | None
    schema: str | None
    login: str | None
    password: str | None
    port: int | None

    @property
    def extra_dejson(self) -> dict: ...


class ConnectionError_(ValueError):
    """A connection that cannot be turned into settings (names the connection and what is missing)."""


def erp_url(conn: ConnectionLike) -> str:
    extra = conn.extra_dejson or {}
    if extra.get("sqlalchemy_url"):
        return str(extra["sqlalchemy_url"])
    driver = _SQLALCHEMY_DRIVERS.get((conn.conn_type or "").lower())
    if driver is None:
        raise ConnectionError_(
            f"connection {ERP}: conn_type {conn.conn_type!r} is not a database Stockwise knows "
            f"({', '.join(sorted(_SQLALCHEMY_DRIVERS))}); give extra {{'sqlalchemy_url': ...}} instead"
        )
    if not conn.host or not conn.schema:
        raise ConnectionError_(f"connection {ERP}: host and schema (the database name) are required")
    from sqlalchemy.engine import URL

    url = URL.create(
        driver,
        username=conn.login or None,
        password=conn.password or None,
        host=conn.host,
        port=conn.port,
        database=conn.schema,
    )
    return url.render_as_string(hide_password=False)


def lake_env(conn: ConnectionLike) -> dict[str, str]:
    extra = conn.extra_dejson or {}
    if not extra.get("lake_url"):
        raise ConnectionError_(f"connection {LAKE}: extra 'lake_url' (s3://bucket/prefix or a folder) is required")
    env = {"STOCKWISE_LAKE_URL": str(extra["lake_url"])}
    if extra.get("endpoint_url"):
        env["STOCKWISE_S3_ENDPOINT_URL"] = str(extra["endpoint_url"])
    if extra.get("region_name"):
        env["STOCKWISE_AWS_REGION"] = str(extra["region_name"])
    if conn.login:
        env["STOCKWISE_AWS_ACCESS_KEY_ID"] = conn.login
    if conn.password:
        env["STOCKWISE_AWS_SECRET_ACCESS_KEY"] = conn.password
    return env


def mlflow_env(conn: ConnectionLike) -> dict[str, str]:
    if not conn.host:
        raise ConnectionError_(f"connection {MLFLOW}: host is required")
    host = conn.host
    if "://" not in host:
        scheme = conn.schema if conn.schema in ("http", "https") else "http"
        host = f"{scheme}://{host}"
    env = {"STOCKWISE_MLFLOW_TRACKING_URI": host + (f":{conn.port}" if conn.port else "")}
    if conn.login:
        env["MLFLOW_TRACKING_USERNAME"] = conn.login
    if conn.password:
        env["MLFLOW_TRACKING_PASSWORD"] = conn.password
    return env


def events_url(conn: ConnectionLike) -> str:
    """A redis:// URL of the connection (host, port, password, extra `db`)."""
    from urllib.parse import quote

    if not conn.host:
        raise ConnectionError_(f"connection {EVENTS}: host is required")
    auth = f":{quote(conn.password, safe='')}@" if conn.password else ""
    db = (conn.extra_dejson or {}).get("db", 0)
    return f"redis://{auth}{conn.host}:{conn.port or 6379}/{int(db)}"


_MAPPERS: dict[str, Callable[[Any], dict[str, str]]] = {
    ERP: lambda c: {"STOCKWISE_ERP_URL": erp_url(c)},
    LAKE: lake_env,
    MLFLOW: mlflow_env,
    EVENTS: lambda c: {"STOCKWISE_EVENTS_URL": events_url(c)},
}


def environment(found: Mapping[str, ConnectionLike | None], current: Mapping[str, str]) -> dict[str, str]:
    """The variables to set from the connections `found` (None: not defined), leaving every
    variable that `current` (the process environment) already has: `STOCKWISE_*` overrides."""
    out: dict[str, str] = {}
    for name in NAMES:
        conn = found.get(name)
        if conn is None:
            continue
        for key, value in _MAPPERS[name](conn).items():
            if not current.get(key):
                out[key] = value
    return out
