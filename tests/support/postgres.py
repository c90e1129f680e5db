"""PostgreSQL for the integration tests.

Uses the server on 127.0.0.1:5432 when it answers (the build machines run one, trust auth).
On a machine without one, starts a private server from Debian's postgresql packages on a free
port in a temporary folder (installing the package with apt-get if it is missing) rather than
skipping the tests.
"""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time

DEFAULT = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _can_login(url: str) -> bool:
    import sqlalchemy as sa

    try:
        eng = sa.create_engine(url)
        with eng.connect() as c:
            c.execute(sa.text("select 1"))
        eng.dispose()
        return True
    except Exception:  # noqa: BLE001 - any failure means: not usable
        return False


def _pg_bin() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        subprocess.run(["apt-get", "install", "-y", "-q", "postgresql"], check=True, stdout=subprocess.DEVNULL)
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return os.path.dirname(found[-1])


def _start_private() -> str:
    from support.s3 import free_port

    bindir = _pg_bin()
    data = tempfile.mkdtemp(prefix="stockwise-pg-")
    port = free_port()
    as_pg: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(data, "postgres")
        as_pg = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*as_pg, f"{bindir}/initdb", "-D", data, "-A", "trust", "-U", "postgres"], check=True, stdout=subprocess.DEVNULL
    )
    subprocess.run(
        [
            *as_pg,
            f"{bindir}/pg_ctl",
            "-D",
            data,
            "-w",
            "-l",
            f"{data}/log",
            "-o",
            f"-p {port} -k {data} -c listen_addresses=127.0.0.1",
            "start",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    atexit.register(
        lambda: subprocess.run(
            [*as_pg, f"{bindir}/pg_ctl", "-D", data, "-m", "fast", "stop"], stdout=subprocess.DEVNULL, check=False
        )
    )
    for _ in range(50):
        if _answers("127.0.0.1", port):
            break
        time.sleep(0.2)
    return f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"


def ensure_postgres() -> str:
    url = os.environ.get("STOCKWISE_TEST_POSTGRES_URL", DEFAULT)
    if _answers("127.0.0.1", 5432) and _can_login(url):
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
