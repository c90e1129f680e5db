"""What code is running: the package version and the commit it was built from.

Lineage needs the code as well as the data: the CLI's `--version`, MLflow runs and the report
name the commit. An image build sets `STOCKWISE_CODE_VERSION` (no `.git` inside); a checkout
asks git (a `+dirty` suffix when tracked files have uncommitted changes); otherwise the package
version stands in.
"""

from __future__ import annotations

import functools
import subprocess
from importlib import metadata
from pathlib import Path

from stockwise.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def package_version() -> str:
    try:
        return metadata.version("stockwise")
    except metadata.PackageNotFoundError:
        return "0+unknown"


@functools.cache
def _git(root: Path) -> str | None:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        sha = git("rev-parse", "--short=12", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return sha + ("+dirty" if dirty else "")


def code_version(settings: Settings | None = None) -> str:
    """`STOCKWISE_CODE_VERSION`, else the checkout's commit, else the package version."""
    settings = settings or Settings()
    return settings.code_version or _git(ROOT) or package_version()
