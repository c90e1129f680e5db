"""`make airflow-ui` as an operator runs it: from a plain shell (no venv on PATH), every socket on
127.0.0.1, the admin password private, and Ctrl-C stops every process it started."""

import os
import signal
import socket
import stat
import subprocess
import time
import urllib.request
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


def test_make_airflow_ui_binds_loopback_and_stops_on_ctrl_c(tmp_path):
    port = _free_port()
    home = tmp_path / "stockwise"
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "STOCKWISE_HOME": str(home),
        "AIRFLOW_UI_PORT": str(port),
    }
    log = open(tmp_path / "ui.log", "w")
    p = subprocess.Popen(
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
    seen: dict[int, psutil.Process] = {}
    try:
        deadline = time.time() + 240
        while True:
            for proc in _tree(p.pid):
                seen[proc.pid] = proc
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=3) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
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
        os.killpg(p.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends
        try:
            p.wait(90)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            raise
        log.close()
    time.sleep(3)
    left = [f"{pid} {_cmd(pr)}" for pid, pr in seen.items() if _alive(pr)]
    assert left == [], left
