"""docker-compose.yaml, checked with Debian's docker-compose (no Docker engine runs here): every
secret required from .env, no default password, every port on 127.0.0.1, MLflow behind its
auth app, and `make env` writing a private .env that the file accepts."""

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yaml"


def _compose(*args, env_file: Path) -> subprocess.CompletedProcess:
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.fail("docker-compose is not installed: `make test` installs Debian's package (needs root)")
    # a clean environment: nothing of the developer's shell may fill in a secret
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(
        [exe, "-f", str(COMPOSE), "--env-file", str(env_file), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_stack_needs_every_secret_from_env(tmp_path):
    empty = tmp_path / "empty.env"
    empty.write_text("")
    r = _compose("config", "-q", env_file=empty)
    assert r.returncode != 0 and "set it in .env" in r.stderr, r.stderr
    ok = _compose("config", "-q", env_file=REPO / ".env.example")
    assert ok.returncode == 0, ok.stderr
    text = COMPOSE.read_text()
    # no fallback for anything secret: ${VAR:-default} is gone for passwords, keys and tokens
    defaults = re.findall(r"\$\{(\w+):-", text)
    assert [v for v in defaults if re.search(r"PASS|SECRET|KEY|TOKEN|USER", v)] == []


def test_every_port_is_on_loopback_and_mlflow_needs_a_login():
    r = _compose("config", env_file=REPO / ".env.example")
    assert r.returncode == 0, r.stderr
    cfg = yaml.safe_load(r.stdout)
    ports = [(name, p) for name, svc in cfg["services"].items() for p in svc.get("ports", [])]
    assert ports
    for name, p in ports:
        host_ip = p.get("host_ip") if isinstance(p, dict) else str(p).split(":")[0]
        assert host_ip == "127.0.0.1", (name, p)
    mlflow = cfg["services"]["mlflow"]
    assert "infra/mlflow/server.sh" in " ".join(mlflow["command"])
    assert "--app-name basic-auth" in (REPO / "infra/mlflow/server.sh").read_text()
    assert mlflow["environment"]["MLFLOW_ADMIN_PASSWORD"] == "change-me-mlflow-admin"
    assert cfg["services"]["mlflow-init"]["environment"]["MLFLOW_REVIEWER_USER"] == "reviewer"
    airflow = cfg["services"]["airflow-apiserver"]["environment"]
    assert airflow["AIRFLOW__API_AUTH__JWT_SECRET"] and airflow["AIRFLOW__CORE__FERNET_KEY"]


def test_make_env_writes_fresh_private_secrets_the_file_accepts(tmp_path):
    shutil.copy(REPO / ".env.example", tmp_path / ".env.example")
    r = subprocess.run(
        ["make", "-s", "-f", str(REPO / "Makefile"), "env", "PYTHON=python3"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    env = tmp_path / ".env"
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    assert "change-me" not in env.read_text()
    assert _compose("config", "-q", env_file=env).returncode == 0
    again = subprocess.run(
        ["make", "-s", "-f", str(REPO / "Makefile"), "env", "PYTHON=python3"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode != 0 and "not overwritten" in again.stdout


def test_the_compose_file_runs_what_make_stack_up_runs():
    """docker-compose.yaml and `make stack-up` (stockwise.stack) describe one stack: the same
    services, Airflow commands, executor settings, and the same Airflow connections."""
    import json

    from stockwise import connections, stack

    r = _compose("config", env_file=REPO / ".env.example")
    assert r.returncode == 0, r.stderr
    services = yaml.safe_load(r.stdout)["services"]
    assert set(stack.COMPOSE_SERVICES.values()) <= set(services)
    for name, args in stack.AIRFLOW_COMMANDS.items():
        command = services[stack.COMPOSE_SERVICES[f"airflow-{name}"]]["command"]
        command = command if isinstance(command, list) else command.split()
        assert command[: 1 + len(args)] == ["airflow", *args], (name, command)
    env = services["airflow-worker"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    st = stack.Stack(home=Path("/nonexistent"), ports={"airflow": 8080, "spark": 7077, "mlflow": 5000})
    st.secrets = lambda: {k: "x" for k in stack.SECRET_KEYS}  # type: ignore[method-assign]
    st.pg_admin, st.redis_url = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres", "redis://127.0.0.1:6379/1"
    local = stack.airflow_env(st)
    for key in (
        "AIRFLOW__CELERY__WORKER_CONCURRENCY",
        "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT",
        "STOCKWISE_LIGHTGBM_PARTITION_BY",
    ):
        assert env[key] == local[key], key
    assert env["STOCKWISE_SPARK_MASTER"].startswith("spark://")

    class Conn:
        def __init__(self, d: dict):
            self.__dict__.update({k: d.get(k) for k in ("conn_type", "host", "schema", "login", "password", "port")})
            self.extra_dejson = d.get("extra") or {}

    found = {n: Conn(json.loads(env[f"AIRFLOW_CONN_{n.upper()}"])) for n in connections.NAMES}
    given = connections.environment(found, {})
    assert given["STOCKWISE_ERP_URL"] == "postgresql+psycopg2://stockwise:change-me-postgres@postgres:5432/erp"
    assert given["STOCKWISE_LAKE_URL"] == "s3://stockwise-lake/lake"
    assert given["STOCKWISE_MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert not any(k.startswith(("STOCKWISE_ERP", "STOCKWISE_LAKE", "STOCKWISE_MLFLOW")) for k in env)


def test_the_helm_values_and_spark_on_kubernetes_example_fit_the_connections_and_the_image():
    """infra/helm (the official Airflow chart) and infra/k8s: parseable, both executors, the
    three connections from one secret, the Stockwise image, Spark on Kubernetes wired to them."""
    celery = yaml.safe_load((REPO / "infra/helm/values-celery.yaml").read_text())
    k8s = yaml.safe_load((REPO / "infra/helm/values-kubernetes.yaml").read_text())
    assert celery["executor"] == "CeleryExecutor" and k8s["executor"] == "KubernetesExecutor"
    env = {e["name"]: e["value"] for e in celery["env"]}
    assert env["STOCKWISE_SPARK_MASTER"].startswith("k8s://")
    assert "stockwise-connections" in celery["extraEnvFrom"]
    conf_map = [
        d for d in yaml.safe_load_all((REPO / "infra/k8s/spark-conf.yaml").read_text()) if d["kind"] == "ConfigMap"
    ]
    conf = conf_map[0]["data"]["spark-defaults.conf"]
    assert celery["workers"]["extraVolumes"][0]["configMap"]["name"] == conf_map[0]["metadata"]["name"]
    image = f"{celery['images']['airflow']['repository']}:{celery['images']['airflow']['tag']}"
    assert image in conf and celery["workers"]["serviceAccountName"] in conf
    assert "POD_IP" in celery["extraEnv"] and "${env:POD_IP}" in conf
    assert celery["config"]["core"]["dags_folder"] == "/opt/stockwise/dags"
    assert "COPY dags/ dags/" in (REPO / "infra/Dockerfile").read_text()  # the image's /opt/stockwise/dags
