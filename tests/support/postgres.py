"""PostgreSQL for the integration tests.

Uses the server on 127.0.0.1:5432 when it answers (the build machines run one, trust auth).
On a machine without one, starts a private server from Debian's postgresql packages on a free
port in a temporary folder (installing the package with apt-get if it is missing) rather than
skipping the tests: the same code as `make stack-up` (`stockwise.stack`).
"""

from __future__ import annotations

import atexit
import os
import tempfile
from pathlib import Path

from stockwise.stack import DEFAULT_PG as DEFAULT
from stockwise.stack import answers, can_login, free_port, start_private_postgres, stop_private_postgres


def _start_private() -> str:
    data = Path(tempfile.mkdtemp(prefix="stockwise-pg-"))
    url = start_private_postgres(data, free_port())
    atexit.register(stop_private_postgres, data)
    return url


def ensure_postgres() -> str:
    url = os.environ.get("STOCKWISE_TEST_POSTGRES_URL", DEFAULT)
    if answers(5432) and can_login(url):
        return url
    return _start_private()


def fresh_database(admin_url: str, name: str) -> str:
    """Create (or recreate) database `name` and return its URL."""
    import sqlalchemy as sa

    eng = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    eng.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"
