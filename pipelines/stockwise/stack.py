"""The production stack as processes on this machine: `make stack-up`, `stack-run`, `stack-down`.

What `docker-compose.yaml` runs in containers, started here from the locked environment and
Debian's packages, every listener on 127.0.0.1, secrets generated into `<home>/stack/.env`
(mode 600):

- PostgreSQL: databases `<prefix>_erp` (the demo ERP is loaded into it), `<prefix>_airflow`,
  `<prefix>_mlflow` and `<prefix>_mlflow_auth` on the server at 127.0.0.1:5432 when it answers,
  otherwise on a private server in `<home>/stack/pgdata`;
- an S3-compatible server (moto's server mode, standing in for MinIO/S3) with the buckets
  `stockwise-lake` (the lake) and `stockwise-mlflow` (MLflow's artifacts);
- `mlflow server` on the PostgreSQL backend, artifacts in S3, behind its basic-auth app
  (`infra/mlflow/server.sh`, as in the compose file) with a read-only reviewer;
- Airflow 3: api-server, scheduler, dag-processor, triggerer and a Celery worker (the Redis on
  127.0.0.1:6379 as broker when it answers, otherwise a private `redis-server`; PostgreSQL as the
  result backend); the ERP, the lake and MLflow are the Airflow Connections `stockwise_erp`,
  `stockwise_lake` and `stockwise_mlflow` (`stockwise.connections`);
- a Spark standalone master and two workers (`spark-class` of the pyspark package), used by the
  feature job and the partitioned LightGBM. Where the machine allows (root and `unshare`), each
  worker runs in its own mount namespace with a private /tmp and the stack's home hidden, so its
  executors see none of the driver's folders, as on a real cluster.

`up` records every process it started (pid and start time) in `<home>/stack/stack.json`; `down`
stops exactly those (their process groups), `down --purge` also drops the databases and the
stack's folder. `run` triggers DAGs through Airflow's REST API as the MLOps user would.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import glob
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
LAKE_BUCKET, MLFLOW_BUCKET = "stockwise-lake", "stockwise-mlflow"
SECRET_KEYS = (
    "POSTGRES_PASSWORD",
    "MINIO_ROOT_USER",
    "MINIO_ROOT_PASSWORD",
    "REDIS_PASSWORD",
    "AIRFLOW_JWT_SECRET",
    "AIRFLOW_FERNET_KEY",
    "AIRFLOW_ADMIN_USER",
    "AIRFLOW_ADMIN_PASSWORD",
    "MLFLOW_ADMIN_USER",
    "MLFLOW_ADMIN_PASSWORD",
    "MLFLOW_REVIEWER_USER",
    "MLFLOW_REVIEWER_PASSWORD",
    "MLFLOW_SECRET_KEY",
)
# user names; the S3 access key id is generated like a password (logs mask it as a secret, so a
# common word such as "stockwise" would be masked inside every bucket name)
USERS = {"AIRFLOW_ADMIN_USER": "admin", "MLFLOW_ADMIN_USER": "admin"}
USERS |= {"MLFLOW_REVIEWER_USER": "reviewer"}
# the Airflow services (arguments of `airflow`; the API server also gets its host and port)
AIRFLOW_COMMANDS = {
    "api-server": ["api-server"],
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer", "--skip-serve-logs"],
    "celery-worker": ["celery", "worker", "--skip-serve-logs", "--concurrency", "2"],
}
# each process of the stack and its service in docker-compose.yaml
COMPOSE_SERVICES = {
    "postgres": "postgres",
    "redis": "redis",
    "s3": "minio",
    "mlflow": "mlflow",
    "spark-master": "spark-master",
    "spark-worker-1": "spark-worker-1",
    "spark-worker-2": "spark-worker-2",
} | {f"airflow-{name}": "airflow-apiserver" if name == "api-server" else f"airflow-{name}" for name in AIRFLOW_COMMANDS}
COMPOSE_SERVICES["airflow-celery-worker"] = "airflow-worker"


class StackError(RuntimeError):
    """A part of the stack that did not start or answer (names it and where its log is)."""


def say(msg: str) -> None:
    print(f"[stockwise stack] {msg}", file=sys.stderr, flush=True)


# --- state ----------------------------------------------------------------------------------
@dataclass
class Stack:
    home: Path
    prefix: str = "stockwise"
    ports: dict[str, int] = field(default_factory=dict)
    pg_admin: str = ""  # superuser URL (database `postgres`)
    pg_private: str | None = None  # the private server's data folder, when one was started
    redis_url: str = ""
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    isolated_workers: bool = False

    @property
    def dir(self) -> Path:
        return self.home / "stack"

    @property
    def file(self) -> Path:
        return self.dir / "stack.json"

    def save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        data = asdict(self) | {"home": str(self.home)}
        tmp = self.file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        tmp.replace(self.file)

    @classmethod
    def load(cls, home: Path) -> Stack:
        path = home / "stack" / "stack.json"
        if not path.exists():
            raise StackError(f"no stack under {home} ({path} is missing): run `make stack-up` first")
        data = json.loads(path.read_text())
        data["home"] = Path(data["home"])
        return cls(**data)

    def secrets(self) -> dict[str, str]:
        return load_secrets(self.dir / ".env")

    def db_url(self, name: str, driver: str = "postgresql+psycopg2") -> str:
        from sqlalchemy.engine import make_url

        admin = make_url(self.pg_admin)
        url = admin.set(
            drivername=driver,
            username="stockwise",
            password=self.secrets()["POSTGRES_PASSWORD"],
            database=f"{self.prefix}_{name}",
        )
        return url.render_as_string(hide_password=False)

    @property
    def s3(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    @property
    def mlflow(self) -> str:
        return f"http://127.0.0.1:{self.ports['mlflow']}"

    @property
    def airflow(self) -> str:
        return f"http://127.0.0.1:{self.ports['airflow']}"

    @property
    def spark_master(self) -> str:
        return f"spark://127.0.0.1:{self.ports['spark']}"

    @property
    def spark_ui(self) -> str:
        return f"http://127.0.0.1:{self.ports['spark_ui']}"

    def stockwise_env(self) -> dict[str, str]:
        """The `STOCKWISE_*` settings that reach this stack's ERP, lake and MLflow from outside
        Airflow (the CLI, `stockwise where`): the same places the connections name."""
        sec = self.secrets()
        return {
            "STOCKWISE_HOME": str(self.home),
            "STOCKWISE_ERP_URL": self.db_url("erp"),
            "STOCKWISE_LAKE_URL": f"s3://{LAKE_BUCKET}/lake",
            "STOCKWISE_S3_ENDPOINT_URL": self.s3,
            "STOCKWISE_AWS_ACCESS_KEY_ID": sec["MINIO_ROOT_USER"],
            "STOCKWISE_AWS_SECRET_ACCESS_KEY": sec["MINIO_ROOT_PASSWORD"],
            "STOCKWISE_MLFLOW_TRACKING_URI": self.mlflow,
            "MLFLOW_TRACKING_USERNAME": sec["MLFLOW_ADMIN_USER"],
            "MLFLOW_TRACKING_PASSWORD": sec["MLFLOW_ADMIN_PASSWORD"],
            "STOCKWISE_SPARK_MASTER": self.spark_master,
            "STOCKWISE_EVENTS_URL": self.redis_url,
        }


def load_secrets(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def _write_secrets(path: Path) -> dict[str, str]:
    """`<home>/stack/.env`: fresh random secrets the first time, kept afterwards (mode 600)."""
    if path.exists():
        return load_secrets(path)
    values = {}
    for key in SECRET_KEYS:
        if key in USERS:
            values[key] = USERS[key]
        elif key == "MINIO_ROOT_USER":
            values[key] = "SW" + secrets.token_hex(9).upper()
        elif key == "AIRFLOW_FERNET_KEY":
            values[key] = base64.urlsafe_b64encode(os.urandom(32)).decode()
        else:
            values[key] = secrets.token_urlsafe(24)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("# secrets of the local Stockwise stack (make stack-up); never commit\n")
        f.writelines(f"{k}={v}\n" for k, v in values.items())
    return values


# --- processes --------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _start_ticks(pid: int) -> int | None:
    """The process's start time (clock ticks after boot); None when it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] == "Z" else int(fields[19])


def alive(svc: dict[str, Any]) -> bool:
    """The process `up` started is still running (not merely a process that reuses its pid)."""
    return _start_ticks(svc["pid"]) == svc["start"]


def start(
    st: Stack, name: str, cmd: list[str], env: dict[str, str], cwd: Path | None = None, record: bool = True
) -> dict[str, Any]:
    """Start `cmd` in its own process group (session), output to `<home>/stack/logs/<name>.log`."""
    logs = st.dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name}.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            cmd,
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    svc = {"pid": proc.pid, "start": _start_ticks(proc.pid), "log": str(log), "cmd": cmd[:3]}
    if record:
        st.services[name] = svc
        st.save()
    return svc


def stop_service(svc: dict[str, Any], grace: float = 20) -> bool:
    """Stop a started process and its group: TERM, then KILL after `grace` seconds."""
    if not alive(svc):
        return False
    pid = svc["pid"]
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not alive(svc):
                return True
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)  # our own child: reap it
            time.sleep(0.2)
    return True


def tail(path: str | Path, n: int = 15) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def wait_for(what: str, ok: Callable[[], bool], timeout: float, log: str | Path | None = None, svc=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if ok():
                return
        except Exception:  # noqa: BLE001 - not ready yet, whatever the reason
            pass
        if svc is not None and not alive(svc):
            raise StackError(f"{what}: the process exited; the end of its log ({log}):\n{tail(log or '')}")
        time.sleep(1)
    raise StackError(f"{what}: no answer after {timeout:.0f}s; the end of its log ({log}):\n{tail(log or '')}")


def http_json(url: str, method: str = "GET", body: Any = None, headers: dict | None = None, timeout: float = 30):
    req = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode())
    req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        raw = r.read()
    return json.loads(raw) if raw else {}


def http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=10) as r:
        return 200 <= r.status < 300


def base_env() -> dict[str, str]:
    """This process's environment without any `STOCKWISE_*` setting (the stack gives its own)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STOCKWISE_", "AIRFLOW", "MLFLOW_TRACKING"))}
    env["PATH"] = f"{BIN}:{env.get('PATH', '/usr/bin:/bin')}"
    env |= {"MLFLOW_DISABLE_TELEMETRY": "true", "GX_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "true"}
    return env


# --- PostgreSQL -------------------------------------------------------------------------------
DEFAULT_PG = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


def can_login(url: str) -> bool:
    import sqlalchemy as sa

    try:
        eng = sa.create_engine(url)
        with eng.connect() as c:
            c.execute(sa.text("select 1"))
        eng.dispose()
        return True
    except Exception:  # noqa: BLE001 - any failure means: not usable
        return False


def pg_bindir() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        say("installing Debian's postgresql (no server answers on 127.0.0.1:5432)")
        subprocess.run(["apt-get", "install", "-y", "-q", "postgresql"], check=True, stdout=subprocess.DEVNULL)
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return os.path.dirname(found[-1])


def pg_data_dir(st: Stack) -> Path:
    """Where a private server keeps its data: `<home>/stack/pgdata`, unless the server's user
    (postgres, when we are root) cannot reach it (a private temp folder): then under /tmp."""
    data = st.dir / "pgdata"
    if os.geteuid() != 0:
        return data
    for parent in data.parents:
        if parent.exists() and not parent.stat().st_mode & 0o001:
            digest = hashlib.sha1(str(st.home).encode()).hexdigest()[:12]
            return Path(tempfile.gettempdir()) / f"stockwise-pg-{digest}"
    return data


def start_private_postgres(data: Path, port: int) -> str:
    """A PostgreSQL server of Debian's packages in `data` on 127.0.0.1:`port` (trust auth for
    local use); returns its superuser URL. Stopped with `stop_private_postgres`."""
    bindir = pg_bindir()
    as_pg: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        as_pg = ["runuser", "-u", "postgres", "--"]
    if not (data / "PG_VERSION").exists():
        data.mkdir(parents=True, exist_ok=True)
        if as_pg:
            shutil.chown(data, "postgres")
        subprocess.run(
            [*as_pg, f"{bindir}/initdb", "-D", str(data), "-A", "trust", "-U", "postgres"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    subprocess.run(
        [
            *as_pg,
            f"{bindir}/pg_ctl",
            "-D",
            str(data),
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
    for _ in range(50):
        if answers(port):
            break
        time.sleep(0.2)
    return f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"


def stop_private_postgres(data: str | Path) -> None:
    as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run(
        [*as_pg, f"{pg_bindir()}/pg_ctl", "-D", str(data), "-m", "fast", "stop"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )


def _postgres(st: Stack, sec: dict[str, str]) -> None:
    import sqlalchemy as sa

    url = os.environ.get("STOCKWISE_STACK_POSTGRES_URL", DEFAULT_PG)
    if st.pg_private:
        st.pg_admin = start_private_postgres(Path(st.pg_private), st.ports["postgres"])
    elif answers(5432) and can_login(url):
        st.pg_admin = url
    else:
        st.ports["postgres"] = free_port()
        st.pg_private = str(pg_data_dir(st))
        say(f"no PostgreSQL answers on 127.0.0.1:5432: starting a private one on port {st.ports['postgres']}")
        st.pg_admin = start_private_postgres(Path(st.pg_private), st.ports["postgres"])
    st.save()
    eng = sa.create_engine(st.pg_admin, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        pw = sec["POSTGRES_PASSWORD"].replace("'", "''")
        exists = c.execute(sa.text("select 1 from pg_roles where rolname = 'stockwise'")).first()
        verb = "ALTER" if exists else "CREATE"
        c.execute(sa.text(f"{verb} ROLE stockwise LOGIN PASSWORD '{pw}'"))
        for name in ("erp", "airflow", "mlflow", "mlflow_auth"):
            db = f"{st.prefix}_{name}"
            if not c.execute(sa.text("select 1 from pg_database where datname = :d"), {"d": db}).first():
                c.execute(sa.text(f'CREATE DATABASE "{db}" OWNER stockwise'))
    eng.dispose()


def _drop_databases(st: Stack) -> None:
    import sqlalchemy as sa

    eng = sa.create_engine(st.pg_admin, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        for name in ("erp", "airflow", "mlflow", "mlflow_auth"):
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{st.prefix}_{name}" WITH (FORCE)'))
    eng.dispose()


# --- Redis, S3 --------------------------------------------------------------------------------
def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _redis(st: Stack, sec: dict[str, str], env: dict[str, str]) -> None:
    if "redis" not in st.ports and _redis_answers(6379):
        # a database of its own on the shared server, chosen from the prefix
        db = 1 + int(hashlib.sha1(st.prefix.encode()).hexdigest(), 16) % 15
        st.redis_url = f"redis://127.0.0.1:6379/{db}"
        return
    if shutil.which("redis-server") is None:
        say("installing Debian's redis-server (no Redis answers on 127.0.0.1:6379)")
        subprocess.run(["apt-get", "install", "-y", "-q", "redis-server"], check=True, stdout=subprocess.DEVNULL)
    port = st.ports.setdefault("redis", free_port())
    (st.dir / "redis").mkdir(parents=True, exist_ok=True)
    conf = st.dir / "redis" / "redis.conf"  # the password in a file of mode 600, not on the command line
    conf.write_text(f'bind 127.0.0.1\nport {port}\nrequirepass {sec["REDIS_PASSWORD"]}\nsave ""\n')
    conf.chmod(0o600)
    svc = start(st, "redis", ["redis-server", str(conf)], env, cwd=st.dir / "redis")
    wait_for("redis", lambda: answers(port), 30, svc["log"], svc)
    st.redis_url = f"redis://:{sec['REDIS_PASSWORD']}@127.0.0.1:{port}/0"


def _s3(st: Stack, sec: dict[str, str], env: dict[str, str]) -> None:
    import boto3

    port = st.ports.setdefault("s3", free_port())
    svc = start(st, "s3", [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], env)
    wait_for("the S3 server (moto)", lambda: answers(port), 60, svc["log"], svc)
    s3 = boto3.client(
        "s3",
        endpoint_url=st.s3,
        aws_access_key_id=sec["MINIO_ROOT_USER"],
        aws_secret_access_key=sec["MINIO_ROOT_PASSWORD"],
        region_name="us-east-1",
    )
    have = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    for bucket in (LAKE_BUCKET, MLFLOW_BUCKET):
        if bucket not in have:
            s3.create_bucket(Bucket=bucket)


# --- the demo ERP, MLflow ---------------------------------------------------------------------
def _demo_erp(st: Stack, env: dict[str, str], skus: int, stores: int, days: int, seed: int, end: date) -> None:
    import sqlalchemy as sa

    url = st.db_url("erp")
    eng = sa.create_engine(url)
    has_items = sa.inspect(eng).has_table("items")
    eng.dispose()
    if has_items:
        say(f"the demo ERP is loaded already (PostgreSQL database {st.prefix}_erp)")
        return
    say(f"loading the demo ERP into PostgreSQL ({skus} skus x {stores} stores x {days} days, stores buying direct)")
    run_env = env | {"STOCKWISE_ERP_URL": url, "STOCKWISE_HOME": str(st.home)}
    cmd = [str(BIN / "stockwise"), "-q", "demo-erp", "--skus", str(skus), "--stores", str(stores)]
    # stores buying direct: the stock events' intraday revisions (bench/events.py) leave a network
    # plan's lines to the nightly plan, so the stack's demo keeps lines they can revise
    cmd += ["--days", str(days), "--seed", str(seed), "--end", end.isoformat(), "--direct"]
    subprocess.run(cmd, env=run_env, check=True)


def _mlflow(st: Stack, sec: dict[str, str], env: dict[str, str]) -> None:
    port = st.ports.setdefault("mlflow", free_port())
    menv = env | {
        "MLFLOW_AUTH_DB": st.db_url("mlflow_auth"),
        "MLFLOW_ADMIN_USER": sec["MLFLOW_ADMIN_USER"],
        "MLFLOW_ADMIN_PASSWORD": sec["MLFLOW_ADMIN_PASSWORD"],
        "MLFLOW_FLASK_SERVER_SECRET_KEY": sec["MLFLOW_SECRET_KEY"],
        "MLFLOW_AUTH_CONFIG_PATH": str(st.dir / "mlflow-basic-auth.ini"),
        "MLFLOW_S3_ENDPOINT_URL": st.s3,
        "AWS_ACCESS_KEY_ID": sec["MINIO_ROOT_USER"],
        "AWS_SECRET_ACCESS_KEY": sec["MINIO_ROOT_PASSWORD"],
        "AWS_DEFAULT_REGION": "us-east-1",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    cmd = ["sh", str(REPO / "infra/mlflow/server.sh"), "--backend-store-uri", st.db_url("mlflow")]
    cmd += ["--artifacts-destination", f"s3://{MLFLOW_BUCKET}/artifacts", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--workers", "1"]
    svc = start(st, "mlflow", cmd, menv)
    wait_for("the MLflow server", lambda: http_ok(f"{st.mlflow}/health"), 180, svc["log"], svc)
    add = env | {
        "MLFLOW_TRACKING_USERNAME": sec["MLFLOW_ADMIN_USER"],
        "MLFLOW_TRACKING_PASSWORD": sec["MLFLOW_ADMIN_PASSWORD"],
        "MLFLOW_REVIEWER_USER": sec["MLFLOW_REVIEWER_USER"],
        "MLFLOW_REVIEWER_PASSWORD": sec["MLFLOW_REVIEWER_PASSWORD"],
    }
    subprocess.run(
        [sys.executable, str(REPO / "infra/mlflow/add_reviewer.py"), st.mlflow],
        env=add,
        check=True,
        stdout=subprocess.DEVNULL,
    )


# --- Spark ------------------------------------------------------------------------------------
def _can_isolate() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, check=False)
    return probe.returncode == 0


def _spark(st: Stack, env: dict[str, str], workers: int, worker_memory: str) -> None:
    spark_class = str(BIN.parent / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}")
    spark_class = str(Path(spark_class) / "site-packages/pyspark/bin/spark-class")
    port = st.ports.setdefault("spark", free_port())
    ui = st.ports.setdefault("spark_ui", free_port())
    senv = env | {"SPARK_LOCAL_IP": "127.0.0.1", "SPARK_NO_DAEMONIZE": "1"}
    master = [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1"]
    master += ["--port", str(port), "--webui-port", str(ui)]
    svc = start(st, "spark-master", master, senv)
    wait_for("the Spark master", lambda: http_json(f"{st.spark_ui}/json/") is not None, 90, svc["log"], svc)
    st.isolated_workers = _can_isolate()
    tmp = Path(tempfile.gettempdir()).resolve()
    private_tmp = not any(p.resolve().is_relative_to(tmp) for p in (REPO, Path(sys.prefix), BIN))
    if not st.isolated_workers:
        say("Spark workers share this machine's folders (isolating them needs root and unshare)")
    for i in range(1, workers + 1):
        wui = st.ports.setdefault(f"spark_worker{i}_ui", free_port())
        worker = [spark_class, "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1", "--cores", "1"]
        worker += ["--memory", worker_memory, "--webui-port", str(wui)]
        if st.isolated_workers:
            # the stack's home hidden (the driver's scratch lives there) and, unless this
            # environment itself lives under /tmp, a private /tmp: the executors see none of the
            # driver's folders. The work folder is inside the hidden home, seen by this worker only.
            work = f"{st.home}/spark-worker-{i}"
            hide = f'mount -t tmpfs stockwise-hidden "{st.home}"'
            if private_tmp:
                hide += " && mount -t tmpfs stockwise-tmp /tmp"
            script = f'{hide} && mkdir -p "{work}" && exec "$@" --work-dir "{work}" {st.spark_master}'
            cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "spark-worker", *worker]
        else:
            cmd = [*worker, "--work-dir", str(st.dir / f"spark-worker-{i}"), st.spark_master]
        start(st, f"spark-worker-{i}", cmd, senv)

    def workers_alive() -> bool:
        return sum(w.get("state") == "ALIVE" for w in http_json(f"{st.spark_ui}/json/")["workers"]) >= workers

    wait_for(f"{workers} Spark workers", workers_alive, 90, st.services["spark-worker-1"]["log"])


# --- Airflow ----------------------------------------------------------------------------------
def airflow_env(st: Stack, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of every Airflow process of the stack (and of `airflow` commands run by
    hand against it: `source <home>/stack/airflow.env`)."""
    sec = st.secrets()
    db = st.db_url("airflow")
    port = st.ports["airflow"]
    env = {
        "AIRFLOW_HOME": str(st.dir / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{sec['AIRFLOW_ADMIN_USER']}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(st.dir / "airflow" / "passwords.json"),
        "AIRFLOW__CORE__FERNET_KEY": sec["AIRFLOW_FERNET_KEY"],
        "AIRFLOW__API_AUTH__JWT_SECRET": sec["AIRFLOW_JWT_SECRET"],
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db,
        "AIRFLOW__CELERY__BROKER_URL": st.redis_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + db,
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
        # longer than the longest task (training: 2 h), so that no running task is delivered twice
        "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "10800",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": st.airflow,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{st.airflow}/execution/",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        # the tasks: where they keep scratch and logs, the Spark cluster, LightGBM by location on it;
        # the ERP, the lake and MLflow come from the Airflow connections
        "STOCKWISE_HOME": str(st.home),
        "STOCKWISE_SPARK_MASTER": st.spark_master,
        "STOCKWISE_LIGHTGBM_PARTITION_BY": "location_id",
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
    }
    saved = st.dir / "airflow-extra.json"
    if saved.exists():
        env |= json.loads(saved.read_text())
    return env | (extra or {})


def _connections(st: Stack) -> list[dict[str, Any]]:
    from urllib.parse import unquote, urlsplit

    from sqlalchemy.engine import make_url

    sec = st.secrets()
    erp = make_url(st.db_url("erp"))
    ev = urlsplit(st.redis_url)
    return [
        {
            "connection_id": "stockwise_erp",
            "conn_type": "postgres",
            "host": erp.host,
            "port": erp.port,
            "login": erp.username,
            "password": erp.password,
            "schema": erp.database,
            "description": "Stockwise: the ERP database (extracts in, requisitions out)",
        },
        {
            "connection_id": "stockwise_lake",
            "conn_type": "aws",
            "login": sec["MINIO_ROOT_USER"],
            "password": sec["MINIO_ROOT_PASSWORD"],
            "extra": json.dumps(
                {"lake_url": f"s3://{LAKE_BUCKET}/lake", "endpoint_url": st.s3, "region_name": "us-east-1"}
            ),
            "description": "Stockwise: the lake (S3)",
        },
        {
            "connection_id": "stockwise_events",
            "conn_type": "redis",
            "host": ev.hostname,
            "port": ev.port or 6379,
            "password": unquote(ev.password) if ev.password else None,
            "extra": json.dumps({"db": int(ev.path.strip("/") or 0)}),
            "description": "Stockwise: the Redis of the stock-event queue (the stock_events DAG listens on it)",
        },
        {
            "connection_id": "stockwise_mlflow",
            "conn_type": "http",
            "host": "127.0.0.1",
            "port": st.ports["mlflow"],
            "schema": "http",
            "login": sec["MLFLOW_ADMIN_USER"],
            "password": sec["MLFLOW_ADMIN_PASSWORD"],
            "description": "Stockwise: the MLflow tracking server and registry",
        },
    ]


class Api:
    """Airflow's REST API (v2) as the admin of the simple auth manager."""

    def __init__(self, st: Stack):
        self.base = st.airflow
        sec = st.secrets()
        self.user, self.password = sec["AIRFLOW_ADMIN_USER"], sec["AIRFLOW_ADMIN_PASSWORD"]
        self._token: str | None = None

    def token(self) -> str:
        if self._token is None:
            body = {"username": self.user, "password": self.password}
            self._token = http_json(f"{self.base}/auth/token", "POST", body)["access_token"]
        return self._token

    def call(self, path: str, method: str = "GET", body: Any = None) -> Any:
        return http_json(f"{self.base}{path}", method, body, {"Authorization": f"Bearer {self.token()}"})


def _airflow(st: Stack, env: dict[str, str], extra: dict[str, str]) -> None:
    sec = st.secrets()
    st.ports.setdefault("airflow", free_port())
    st.save()
    (st.dir / "airflow-extra.json").write_text(json.dumps(extra))
    aenv = env | airflow_env(st)
    home = st.dir / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    pw = home / "passwords.json"
    fd = os.open(pw, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({sec["AIRFLOW_ADMIN_USER"]: sec["AIRFLOW_ADMIN_PASSWORD"]}, f)
    # for `airflow ...` by hand against this stack: `set -a; source <home>/stack/airflow.env`
    fd = os.open(st.dir / "airflow.env", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.writelines(f"{k}='{v}'\n" for k, v in airflow_env(st).items())
    say("migrating the Airflow metadata database (PostgreSQL)")
    subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=aenv, check=True, stdout=subprocess.DEVNULL)
    conns = st.dir / "connections.json"
    fd = os.open(conns, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(
            {c["connection_id"]: {k: v for k, v in c.items() if k != "connection_id"} for c in _connections(st)}, f
        )
    try:
        subprocess.run(
            [str(BIN / "airflow"), "connections", "import", "--overwrite", str(conns)],
            env=aenv,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    finally:
        conns.unlink()
    port = st.ports["airflow"]
    worker_log = st.dir / "logs" / "airflow-celery-worker.log"
    offset = worker_log.stat().st_size if worker_log.exists() else 0
    commands = AIRFLOW_COMMANDS | {"api-server": ["api-server", "--host", "127.0.0.1", "--port", str(port)]}
    for name, args in commands.items():
        start(st, f"airflow-{name}", [str(BIN / "airflow"), *args], aenv, cwd=home)
    api = st.services["airflow-api-server"]

    def healthy() -> bool:
        h = http_json(f"{st.airflow}/api/v2/monitor/health")
        return all(h.get(k, {}).get("status") == "healthy" for k in ("metadatabase", "scheduler", "dag_processor"))

    wait_for("the Airflow API server and scheduler", healthy, 240, api["log"], api)
    client = Api(st)
    for dag_id in ("inventory_planning", "model_training"):

        def parsed(d: str = dag_id) -> bool:
            return bool(client.call(f"/api/v2/dags/{d}"))

        wait_for(f"the DAG {dag_id} parsed", parsed, 240, api["log"])
    _wait_worker_ready(st.services["airflow-celery-worker"], offset)


def restart_worker(st: Stack) -> dict[str, Any]:
    """Start the Celery worker again (after it died or was killed), as a supervisor would."""
    old = st.services.get("airflow-celery-worker")
    if old and alive(old):
        stop_service(old)
    home = st.dir / "airflow"
    cmd = [str(BIN / "airflow"), *AIRFLOW_COMMANDS["celery-worker"]]
    log = st.dir / "logs" / "airflow-celery-worker.log"
    offset = log.stat().st_size if log.exists() else 0
    svc = start(st, "airflow-celery-worker", cmd, base_env() | airflow_env(st), cwd=home)
    _wait_worker_ready(svc, offset)
    return svc


def set_schedule(st: Stack, on: bool) -> dict[str, Any]:
    """Let the scheduler start scheduled and asset-triggered runs (`on`), or only what is
    triggered by hand (the stack's default: the demo's history ends on --end, so a run for today
    would fail as stale data). The scheduler restarts with the setting; the DAGs that should not
    run by themselves stay paused. Event-driven DAGs (`stock_events`) need it on."""
    saved = st.dir / "airflow-extra.json"
    extra = json.loads(saved.read_text()) if saved.exists() else {}
    extra["AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE"] = "True" if on else "False"
    saved.write_text(json.dumps(extra))
    old = st.services.get("airflow-scheduler")
    if old and alive(old):
        stop_service(old)
    cmd = [str(BIN / "airflow"), *AIRFLOW_COMMANDS["scheduler"]]
    svc = start(st, "airflow-scheduler", cmd, base_env() | airflow_env(st), cwd=st.dir / "airflow")
    st.save()

    def healthy() -> bool:
        h = http_json(f"{st.airflow}/api/v2/monitor/health")
        return h.get("scheduler", {}).get("status") == "healthy"

    wait_for("the Airflow scheduler", healthy, 120, svc["log"], svc)
    say(f"the scheduler {'starts scheduled and asset-triggered runs' if on else 'runs only what is triggered'}")
    return svc


def _wait_worker_ready(svc: dict[str, Any], offset: int = 0) -> None:
    def ready() -> bool:
        with open(svc["log"], "rb") as f:
            f.seek(offset)
            return b" ready." in f.read()

    wait_for("the Celery worker", ready, 180, svc["log"], svc)


# --- up, down, run ----------------------------------------------------------------------------
def up(
    home: Path,
    prefix: str = "stockwise",
    demo: tuple[int, int, int, int, date] = (200, 5, 730, 7, date(2025, 12, 31)),
    spark_workers: int = 2,
    worker_memory: str = "3g",
    airflow_extra: dict[str, str] | None = None,
) -> Stack:
    home = home.resolve()
    try:
        st = Stack.load(home)
        running = [n for n, s in st.services.items() if alive(s)]
        if running:
            raise StackError(f"the stack under {home} is running ({', '.join(running)}): `make stack-down` first")
        st.services = {}
    except StackError as e:
        if "running" in str(e):
            raise
        st = Stack(home=home, prefix=prefix)
    st.save()
    sec = _write_secrets(st.dir / ".env")
    env = base_env()
    t0 = time.monotonic()
    steps: list[tuple[str, Callable[[], None]]] = [
        ("PostgreSQL", lambda: _postgres(st, sec)),
        ("Redis", lambda: _redis(st, sec, env)),
        ("S3 (moto server)", lambda: _s3(st, sec, env)),
        ("the demo ERP", lambda: _demo_erp(st, env, *demo)),
        ("MLflow server", lambda: _mlflow(st, sec, env)),
        ("Spark master and workers", lambda: _spark(st, env, spark_workers, worker_memory)),
        ("Airflow (Celery)", lambda: _airflow(st, env, airflow_extra or {})),
    ]
    try:
        for what, step in steps:
            say(f"starting {what} ({time.monotonic() - t0:.0f}s)")
            step()
            st.save()
    except BaseException:
        say("the stack did not come up: stopping what was started")
        down(home)
        raise
    say(f"up in {time.monotonic() - t0:.0f}s")
    print(describe(st))
    return st


def describe(st: Stack) -> str:
    sec = st.secrets()
    lines = [
        f"Airflow UI   {st.airflow}  (user {sec['AIRFLOW_ADMIN_USER']}; password in {st.dir / '.env'})",
        f"MLflow UI    {st.mlflow}  (admin {sec['MLFLOW_ADMIN_USER']}, reviewer {sec['MLFLOW_REVIEWER_USER']})",
        f"Spark master {st.spark_master}  (UI {st.spark_ui})",
        f"S3           {st.s3}  (buckets {LAKE_BUCKET}, {MLFLOW_BUCKET})",
        f"PostgreSQL   {st.db_url('erp').split('@')[-1]}  (and {st.prefix}_airflow, _mlflow, _mlflow_auth)",
        f"Redis        {st.redis_url.split('@')[-1]}",
        f"logs         {st.dir / 'logs'}",
    ]
    return "\n".join(lines)


def down(home: Path, purge: bool = False) -> list[str]:
    """Stop exactly the processes `up` recorded (newest first); `purge`: also drop the stack's
    databases and delete its folder. Returns the names of the stopped services."""
    home = home.resolve()
    try:
        st = Stack.load(home)
    except StackError:
        return []
    stopped = []
    for name, svc in reversed(list(st.services.items())):
        if stop_service(svc):
            stopped.append(name)
    if st.pg_private:
        stop_private_postgres(st.pg_private)
    elif purge and st.pg_admin:
        _drop_databases(st)
    if purge:
        if st.pg_private:
            shutil.rmtree(st.pg_private, ignore_errors=True)
        shutil.rmtree(st.dir, ignore_errors=True)
    else:
        st.services = {}
        st.save()
    say(f"stopped {', '.join(stopped) or 'nothing (no process of the stack was running)'}")
    return stopped


def trigger(st: Stack, dag_id: str, ds: date, conf: dict | None = None, api: Api | None = None) -> str:
    """Unpause `dag_id` and trigger its run for `ds`; a run of that logical date exists already:
    clear it instead (the UI's *Clear*: every task runs again, with the run's first params)."""
    api = api or Api(st)
    api.call(f"/api/v2/dags/{dag_id}", "PATCH", {"is_paused": False})
    body = {"logical_date": f"{ds.isoformat()}T05:00:00Z", "conf": conf or {}}
    try:
        return api.call(f"/api/v2/dags/{dag_id}/dagRuns", "POST", body)["dag_run_id"]
    except urllib.error.HTTPError as e:
        if e.code != 409:
            raise
    same = [r for r in runs_of(st, dag_id, api) if (r.get("logical_date") or "").startswith(ds.isoformat())]
    if not same:
        raise StackError(f"{dag_id}: a run for {ds} exists but could not be found")
    clear(st, dag_id, same[0]["dag_run_id"], api=api)
    return same[0]["dag_run_id"]


def clear(st: Stack, dag_id: str, run_id: str, only_failed: bool = False, api: Api | None = None) -> None:
    """Clear a DAG run's tasks (the UI's *Clear*): the scheduler runs them again."""
    body = {"dag_run_id": run_id, "only_failed": only_failed, "reset_dag_runs": True, "dry_run": False}
    (api or Api(st)).call(f"/api/v2/dags/{dag_id}/clearTaskInstances", "POST", body)


def wait_run(st: Stack, dag_id: str, run_id: str, timeout: float = 3600, api: Api | None = None) -> dict:
    """Wait for a DAG run to end, printing its tasks' states when they change."""
    api = api or Api(st)
    deadline = time.monotonic() + timeout
    last = ""
    path = f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}"
    while time.monotonic() < deadline:
        run = api.call(path)
        tis = api.call(f"{path}/taskInstances")["task_instances"]
        now = ", ".join(f"{t['task_id']}={t['state']}" for t in sorted(tis, key=lambda t: t.get("start_date") or "~"))
        if now != last:
            say(f"{dag_id} {run['state']}: {now}")
            last = now
        if run["state"] in ("success", "failed"):
            return run
        time.sleep(5)
    raise StackError(f"{dag_id} run {run_id} did not end within {timeout:.0f}s")


def runs_of(st: Stack, dag_id: str, api: Api | None = None) -> list[dict]:
    return (api or Api(st)).call(f"/api/v2/dags/{dag_id}/dagRuns?order_by=-run_after&limit=50")["dag_runs"]


def run(home: Path, ds: date, timeout: float = 3 * 3600) -> int:
    """`make stack-run`: train (model_training), then plan (inventory_planning, which the new
    champion may already have triggered), through the REST API; print where the results are."""
    st = Stack.load(home.resolve())
    api = Api(st)
    rc = 0
    run_id = trigger(st, "model_training", ds, api=api)
    say(f"triggered model_training {run_id}")
    if wait_run(st, "model_training", run_id, timeout, api)["state"] != "success":
        rc = 1
    time.sleep(10)  # with --schedule, a new champion's asset event starts a planning run
    planning = [r for r in runs_of(st, "inventory_planning", api) if r["state"] in ("queued", "running")]
    if planning:
        run_id = planning[0]["dag_run_id"]
        say(f"the new champion triggered inventory_planning {run_id}")
    else:
        run_id = trigger(st, "inventory_planning", ds, api=api)
        say(f"triggered inventory_planning {run_id}")
    if wait_run(st, "inventory_planning", run_id, timeout, api)["state"] != "success":
        rc = 1
    out = subprocess.run(
        [str(BIN / "stockwise"), "-q", "where", "--ds", ds.isoformat()],
        env=base_env() | st.stockwise_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    print(out.stdout.strip() or out.stderr.strip())
    print(f"model        {st.mlflow}/#/models/stockwise-demand")
    print(f"runs         {st.airflow}/dags/inventory_planning")
    return rc


def status(home: Path) -> dict[str, bool]:
    st = Stack.load(home.resolve())
    return {name: alive(svc) for name, svc in st.services.items()}


def _parse_env(items: Iterable[str]) -> dict[str, str]:
    out = {}
    for item in items:
        k, sep, v = item.partition("=")
        if not sep:
            raise SystemExit(f"--airflow-env {item!r}: expected NAME=VALUE")
        out[k] = v
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m stockwise.stack", description=__doc__.split("\n\n")[0])
    p.add_argument("--home", type=Path, default=Path(os.environ.get("STOCKWISE_HOME", ".stockwise")))
    sub = p.add_subparsers(dest="command", required=True)
    u = sub.add_parser("up", help="start the stack (and load the demo ERP into PostgreSQL)")
    u.add_argument("--prefix", default="stockwise", help="name prefix of the stack's databases")
    u.add_argument("--skus", type=int, default=200)
    u.add_argument("--stores", type=int, default=5)
    u.add_argument("--days", type=int, default=730)
    u.add_argument("--seed", type=int, default=7)
    u.add_argument("--end", type=date.fromisoformat, default=date(2025, 12, 31))
    u.add_argument("--spark-workers", type=int, default=2)
    u.add_argument("--worker-memory", default="3g", help="memory each Spark worker offers")
    u.add_argument(
        "--schedule",
        action="store_true",
        help="let the scheduler start the DAGs' scheduled runs (off by default: the demo's history ends "
        "on --end, so a run for today would fail validation as stale data, as it should)",
    )
    u.add_argument(
        "--airflow-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra variable of every Airflow process",
    )
    d = sub.add_parser("down", help="stop every process the stack started")
    d.add_argument("--purge", action="store_true", help="also drop its databases and delete <home>/stack")
    r = sub.add_parser("run", help="trigger model_training then inventory_planning through the REST API, and wait")
    r.add_argument("--ds", type=date.fromisoformat, default=date(2025, 12, 31))
    sub.add_parser("status", help="which of the stack's processes run")
    sub.add_parser("restart-worker", help="start the Celery worker again")
    sc = sub.add_parser("schedule", help="let the scheduler start scheduled and event-driven runs (on), or not (off)")
    sc.add_argument("state", choices=["on", "off"])
    ev = sub.add_parser("events", help="replay a day of the demo ERP's movements as stock events on the stack's queue")
    ev.add_argument("--speed", type=float, default=60.0, help="times real time (0: at once)")
    ev.add_argument("--limit", type=int, default=None, help="send at most this many events")
    a = p.parse_args(argv)
    try:
        if a.command == "up":
            demo = (a.skus, a.stores, a.days, a.seed, a.end)
            extra = {} if a.schedule else {"AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False"}
            up(a.home, a.prefix, demo, a.spark_workers, a.worker_memory, extra | _parse_env(a.airflow_env))
        elif a.command == "down":
            down(a.home, a.purge)
        elif a.command == "run":
            return run(a.home, a.ds)
        elif a.command == "status":
            for name, ok in status(a.home).items():
                print(f"{name:24s} {'running' if ok else 'stopped'}")
        elif a.command == "restart-worker":
            restart_worker(Stack.load(a.home.resolve()))
        elif a.command == "schedule":
            set_schedule(Stack.load(a.home.resolve()), a.state == "on")
        elif a.command == "events":
            st = Stack.load(a.home.resolve())
            cmd = [str(BIN / "stockwise"), "demo-events", "--speed", str(a.speed)]
            cmd += ["--limit", str(a.limit)] if a.limit else []
            return subprocess.run(cmd, env=base_env() | st.stockwise_env(), check=False).returncode
    except (StackError, subprocess.CalledProcessError) as e:
        say(f"error: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
