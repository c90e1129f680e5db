"""Shared test set-up.

Airflow reads its configuration at import, so its home and DAG folder are set here, before any
test imports it. Each test that runs jobs gets its own STOCKWISE_HOME (ERP, lake, MLflow store).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

from stockwise.local import local_env

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="stockwise-test-airflow-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(_AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        **local_env(),
    }
)
for var in [k for k in os.environ if k.startswith("STOCKWISE_")]:
    del os.environ[var]

from support.demo import TINY  # noqa: E402


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A fresh embedded setup: STOCKWISE_HOME points at an empty folder."""
    h = tmp_path / "stockwise"
    h.mkdir()
    monkeypatch.setenv("STOCKWISE_HOME", str(h))
    return h


@pytest.fixture(scope="session")
def tiny_demo():
    """The tiny demo ERP, generated once per session (pure data, no I/O)."""
    from stockwise.erp.demo import generate

    return generate(TINY)


@pytest.fixture
def demo_home(home, tiny_demo) -> Path:
    """`home` with the tiny demo ERP written into it."""
    from stockwise.erp.demo import write
    from stockwise.settings import Settings

    s = Settings()
    write(tiny_demo, s.erp, s.truth)
    return home


@pytest.fixture(scope="session")
def spark():
    """One local[1] Spark session for the whole run (a session costs 10-20 s to start)."""
    from stockwise.settings import Settings
    from stockwise.spark import spark_session

    session = spark_session(Settings(spark_master="local[1]", spark_shuffle_partitions=2), "stockwise-tests")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A PostgreSQL server: the one on 127.0.0.1:5432 if it answers, else a private one we start."""
    from support.postgres import ensure_postgres

    return ensure_postgres()


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A Redis server: the one on 127.0.0.1:6379 if it answers, else a private one we start."""
    from support.redis import ensure_redis

    return ensure_redis()


@pytest.fixture(scope="session")
def s3_endpoint():
    """moto's S3-compatible server on a free loopback port, spoken to over HTTP."""
    from support.s3 import start_s3

    server, url = start_s3()
    yield url
    server.stop()


@pytest.fixture(scope="session")
def airflow_db():
    """A migrated Airflow metadata database (SQLite in the session's AIRFLOW_HOME)."""
    from airflow.utils import db

    db.resetdb()
    return _AIRFLOW_HOME


def pytest_unconfigure(config):
    """At exit, py4j's collector thread may still tell a Spark JVM that is gone which objects it
    freed, and logs the failure into pytest's capture streams, closed by then: CI printed a
    "--- Logging error ---" traceback after every green run. Nothing is left to report then."""
    import logging

    logging.raiseExceptions = False
