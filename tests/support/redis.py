"""Redis for the stock-event tests.

Uses the server on 127.0.0.1:6379 when it answers (the build machines run one), each test on a
stream of its own; on a machine without one, starts a private `redis-server` on a free port
(installing Debian's package if it is missing) rather than skipping the tests.
"""

from __future__ import annotations

import atexit
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from stockwise.stack import _redis_answers, free_port


def _start_private() -> str:
    if shutil.which("redis-server") is None:
        subprocess.run(["apt-get", "install", "-y", "-q", "redis-server"], check=True, stdout=subprocess.DEVNULL)
    folder = Path(tempfile.mkdtemp(prefix="stockwise-redis-"))
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        cwd=folder,
        stdout=open(folder / "redis.log", "w"),  # noqa: SIM115 - the server's log, open while it runs
        stderr=subprocess.STDOUT,
    )
    atexit.register(proc.terminate)
    deadline = time.monotonic() + 30
    while not _redis_answers(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"redis-server did not start: {(folder / 'redis.log').read_text()[-2000:]}")
        time.sleep(0.1)
    return f"redis://127.0.0.1:{port}/0"


def ensure_redis() -> str:
    if _redis_answers(6379):
        return "redis://127.0.0.1:6379/0"
    return _start_private()
