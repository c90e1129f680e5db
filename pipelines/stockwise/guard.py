"""Refuse to start a DAG run of a date while another run of that date is going (`make run`, `make train`).

    python -m stockwise.guard --dag inventory_planning --ds 2025-12-31 -- airflow dags test ...

Two `airflow dags test` of one DAG and date at once break the first: the second deletes the
first's DagRun of that logical date before any task of it asks for the date's lock, and the
first's tasks then fail with "Task Instance not found". So the command runs only while this
process holds an exclusive lock on `$STOCKWISE_HOME/logs/.<dag>-<ds>.lock` (the file says who
holds it), and, for the planning DAG, only when no run elsewhere (the scheduler, another
machine on the same lake) holds the date's lock in the lake (`stockwise.runlock`). Refused: a
line saying who holds it, exit 75 (EX_TEMPFAIL: try again later).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import subprocess
import sys
import time
from datetime import UTC, date, datetime

BUSY = 75


def _say(msg: str) -> None:
    print(f"[stockwise] {msg}", file=sys.stderr, flush=True)


def lake_holder(ds: str) -> dict | None:
    """Who holds the date's run lock in the lake (another run working on it), or None."""
    from stockwise import lake, runlock
    from stockwise.settings import Settings

    return runlock.holder(lake.open_lake(Settings()), f"plan/{ds}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m stockwise.guard", description=__doc__.splitlines()[0])
    ap.add_argument("--dag", required=True)
    ap.add_argument("--ds", required=True, type=date.fromisoformat)
    ap.add_argument("command", nargs=argparse.REMAINDER, help="after --: the command to run")
    a = ap.parse_args(argv)
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not cmd:
        ap.error("no command to run (put it after --)")
    from stockwise.settings import Settings

    ds = a.ds.isoformat()
    path = Settings().home / "logs" / f".{a.dag}-{ds}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            who = f.read().strip() or "another process"
            _say(f"not starting {a.dag} for {ds}: a run of it is going on this machine ({who}); wait for it to end")
            return BUSY
        if a.dag == "inventory_planning":
            held = lake_holder(ds)
            if held:
                until = datetime.fromtimestamp(float(held.get("expires", 0)), UTC).strftime("%H:%M:%SZ")
                _say(
                    f"not starting {a.dag} for {ds}: {held.get('owner')} (pid {held.get('pid')} on "
                    f"{held.get('host')}) holds the date in the lake, its lease renewed until {until}: a run in "
                    "progress, or one that died and whose lease runs out then"
                )
                return BUSY
        f.seek(0)
        f.truncate()
        f.write(json.dumps({"pid": os.getpid(), "since": time.strftime("%Y-%m-%d %H:%M:%S"), "cmd": cmd[0]}))
        f.flush()
        return subprocess.call(cmd)


if __name__ == "__main__":
    sys.exit(main())
