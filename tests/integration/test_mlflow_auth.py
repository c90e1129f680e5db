"""The model registry is not open: MLflow's basic-auth app, started the way the compose stack
starts it (infra/mlflow/server.sh), refuses anonymous requests, lets the read-only reviewer look
but not move `champion`, and lets the pipeline's admin promote. A real server over HTTP."""

import base64
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
ADMIN, ADMIN_PW = "admin", "Adm1n-pw-for-tests"
REVIEWER, REVIEWER_PW = "reviewer", "R3viewer-pw-for-tests"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _call(
    url: str,
    method: str = "GET",
    body: dict | None = None,
    user: tuple[str, str] | None = None,
    out: dict | None = None,
) -> int:
    req = urllib.request.Request(
        url,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
    )
    if user:
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{user[0]}:{user[1]}".encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            if out is not None:
                out.update(json.loads(r.read() or b"{}"))
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except urllib.error.URLError:
        return 0  # not listening (yet)


@pytest.fixture
def server(tmp_path):
    port = _port()
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "MLFLOW_AUTH_DB": f"sqlite:///{tmp_path / 'auth.db'}",
        "MLFLOW_ADMIN_USER": ADMIN,
        "MLFLOW_ADMIN_PASSWORD": ADMIN_PW,
        "MLFLOW_FLASK_SERVER_SECRET_KEY": "test-secret-key",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_AUTH_CONFIG_PATH": str(tmp_path / "auth.ini"),
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    proc = subprocess.Popen(
        [
            "sh",
            str(REPO / "infra/mlflow/server.sh"),
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 'mlflow.db'}",
            "--default-artifact-root",
            (tmp_path / "artifacts").as_uri(),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        env=env,
        stdout=open(tmp_path / "server.log", "w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while _call(f"{url}/health") != 200:
        assert proc.poll() is None and time.time() < deadline, (tmp_path / "server.log").read_text()[-3000:]
        time.sleep(1)
    yield url, env, tmp_path
    proc.terminate()
    proc.wait(30)


def test_anonymous_and_reviewer_cannot_move_champion_the_admin_can(server):
    url, env, tmp_path = server
    assert (tmp_path / "auth.ini").stat().st_mode & 0o077 == 0  # the admin password: readable by the server only
    api = f"{url}/api/2.0/mlflow"
    search = f"{api}/registered-models/search?max_results=10"
    assert _call(search) == 401  # no anonymous access at all
    admin = (ADMIN, ADMIN_PW)
    assert _call(f"{api}/registered-models/create", "POST", {"name": "stockwise-demand"}, admin) == 200
    run: dict = {}
    assert _call(f"{api}/runs/create", "POST", {"experiment_id": "0"}, admin, run) == 200
    run_id = run["run"]["info"]["run_id"]
    mv = {"name": "stockwise-demand", "source": f"runs:/{run_id}/model", "run_id": run_id}
    assert _call(f"{api}/model-versions/create", "POST", mv, admin) == 200
    alias = {"name": "stockwise-demand", "alias": "champion", "version": "1"}
    assert _call(f"{api}/registered-models/alias", "POST", alias) == 401  # the anonymous POST of the issue

    def add_reviewer() -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(REPO / "infra/mlflow/add_reviewer.py"), url],
            capture_output=True,
            text=True,
            env={
                **env,
                "MLFLOW_TRACKING_USERNAME": ADMIN,
                "MLFLOW_TRACKING_PASSWORD": ADMIN_PW,
                "MLFLOW_REVIEWER_USER": REVIEWER,
                "MLFLOW_REVIEWER_PASSWORD": REVIEWER_PW,
            },
            timeout=120,
        )

    r = add_reviewer()
    assert r.returncode == 0, r.stderr[-2000:]
    reviewer = (REVIEWER, REVIEWER_PW)
    assert _call(search, user=reviewer) == 200  # a reviewer reads
    assert _call(f"{api}/registered-models/alias", "POST", alias, reviewer) == 403  # and moves nothing
    assert _call(f"{api}/registered-models/alias", "POST", alias, admin) == 200
    again = add_reviewer()
    assert again.returncode == 0 and "exists already" in again.stdout  # idempotent
