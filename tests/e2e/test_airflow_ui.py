"""`make airflow-ui` as an operator runs it: from a plain shell (no venv on PATH), every socket on
127.0.0.1, the admin password private, and Ctrl-C stops every process it started."""

import os
import signal
import socket
import stat
import subprocess
import time
import urllib.parse
import urllib.request
from datetime import UTC
from pathlib import Path

import psutil
import pytest

pytestmark = [pytest.mark.dags, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _cmd(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline())
    except psutil.Error:
        return ""


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _env(tmp_path: Path, port: int) -> dict:
    """A plain shell's environment (no venv on PATH) with its own Stockwise home."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "STOCKWISE_HOME": str(tmp_path / "stockwise"),
        "AIRFLOW_UI_PORT": str(port),
    }


def _start_ui(env: dict, log) -> subprocess.Popen:
    return subprocess.Popen(
        ["make", "-s", "airflow-ui"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        # as from a terminal: a test runner started in the background (nohup, `&`) ignores SIGINT,
        # and a shell that inherits an ignored SIGINT cannot trap it
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _ctrl_c(p: subprocess.Popen) -> None:
    os.killpg(p.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends
    try:
        p.wait(90)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        raise


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=3) as r:
            return r.status == 200
    except OSError:
        return False


def test_make_airflow_ui_binds_loopback_and_stops_on_ctrl_c(tmp_path):
    port = _free_port()
    home = tmp_path / "stockwise"
    log = open(tmp_path / "ui.log", "w")
    p = _start_ui(_env(tmp_path, port), log)
    seen: dict[int, psutil.Process] = {}
    try:
        deadline = time.time() + 240
        while True:
            for proc in _tree(p.pid):
                seen[proc.pid] = proc
            if _healthy(port):
                break
            assert p.poll() is None, (tmp_path / "ui.log").read_text()[-3000:]
            assert time.time() < deadline, (tmp_path / "ui.log").read_text()[-3000:]
            time.sleep(2)
        time.sleep(10)  # let the scheduler, triggerer and DAG processor start their workers
        procs = _tree(p.pid)
        for proc in procs:
            seen[proc.pid] = proc
        names = " ".join(_cmd(pr) for pr in procs)
        for service in ("api_server", "scheduler", "dag-processor", "triggerer"):  # the API server retitles itself
            assert service in names.replace("api-server", "api_server"), names
        listening = []
        for proc in procs:
            try:
                listening += [
                    (c.laddr.ip, c.laddr.port, proc.name())
                    for c in proc.net_connections("inet")
                    if c.status == psutil.CONN_LISTEN
                ]
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        assert any(port == lp for _, lp, _ in listening), listening
        assert all(ip in ("127.0.0.1", "::1") for ip, _, _ in listening), listening
        pw = home / "airflow" / "simple_auth_manager_passwords.json.generated"
        assert pw.exists() and stat.S_IMODE(pw.stat().st_mode) == 0o600
    finally:
        _ctrl_c(p)
        log.close()
    time.sleep(3)
    left = [f"{pid} {_cmd(pr)}" for pid, pr in seen.items() if _alive(pr)]
    assert left == [], left


def _get(url: str, token: str) -> dict:
    import json

    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def test_a_make_run_shows_in_the_ui_with_its_task_logs_and_real_duration(tmp_path):
    """`make run` (airflow dags test) as the operator then sees it in the UI: each task's log is
    there, ending with what the task wrote and where, without library chatter, and the run lasted
    minutes, not the year since its logical date."""
    import json
    from datetime import datetime

    port = _free_port()
    home = tmp_path / "stockwise"
    env = _env(tmp_path, port)
    began = datetime.now(UTC)
    run = subprocess.run(
        ["make", "-s", "run", "SKUS=12", "STORES=2", "DAYS=150", "SEED=11"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    assert "task logs filed for the Airflow UI" in run.stdout, run.stdout[-3000:]
    log = open(tmp_path / "ui.log", "w")
    p = _start_ui(env, log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 240
        while not _healthy(port):
            assert p.poll() is None and time.time() < deadline, (tmp_path / "ui.log").read_text()[-3000:]
            time.sleep(2)
        password = json.loads((home / "airflow" / "simple_auth_manager_passwords.json.generated").read_text())["admin"]
        req = urllib.request.Request(
            f"{base}/auth/token",
            data=json.dumps({"username": "admin", "password": password}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            token = json.loads(r.read())["access_token"]
        runs = _get(f"{base}/api/v2/dags/inventory_planning/dagRuns", token)["dag_runs"]
        assert len(runs) == 1 and runs[0]["state"] == "success"
        dr = runs[0]
        start = datetime.fromisoformat(dr["start_date"].replace("Z", "+00:00"))
        assert start >= began, dr  # not the logical date, 2025-12-31
        assert 0 < dr["duration"] < 900, dr
        rid = urllib.parse.quote(dr["dag_run_id"], safe="")
        tis = _get(f"{base}/api/v2/dags/inventory_planning/dagRuns/{rid}/taskInstances", token)["task_instances"]
        assert {t["task_id"] for t in tis} >= {"extract", "validate", "plan", "publish", "report"}
        for t in tis:
            content = _get(
                f"{base}/api/v2/dags/inventory_planning/dagRuns/{rid}/taskInstances/{t['task_id']}/logs/1", token
            )["content"]
            events = [str(e.get("event", "")) for e in content]
            ours = [e for e, c in zip(events, content, strict=True) if str(c.get("logger", "")).startswith("stockwise")]
            assert ours, (t["task_id"], events[:10])
            # the task's last line of its own says what it did, how long it took, what it wrote
            assert ours[-1].startswith(f"{t['task_id']} 2025-12-31 done in "), ours[-3:]
            assert "; wrote " in ours[-1]
            assert not any("Skipping registering function" in e for e in events), t["task_id"]
        plan_log = " ".join(
            str(e.get("event"))
            for e in _get(f"{base}/api/v2/dags/inventory_planning/dagRuns/{rid}/taskInstances/report/logs/1", token)[
                "content"
            ]
        )
        assert "index.html" in plan_log
    finally:
        _ctrl_c(p)
        log.close()
