"""`make run` on a laptop that ran an older Stockwise: an erp.db the current demo generator did
not write (before its transfers table, say) is written again; one it wrote is kept."""

import os
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _plan(home: Path) -> str:
    out = subprocess.run(
        ["make", "-n", f"STOCKWISE_HOME={home}", str(home / "erp.db")],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout


def test_an_erp_older_than_the_demo_generator_is_written_again(tmp_path):
    erp = tmp_path / "erp.db"
    erp.write_text("an older demo")
    old = (REPO / "pipelines" / "stockwise" / "erp" / "demo.py").stat().st_mtime - 3600
    os.utime(erp, (old, old))
    assert "demo-erp" in _plan(tmp_path)
    now = time.time() + 5
    os.utime(erp, (now, now))
    assert "demo-erp" not in _plan(tmp_path)
