"""One run at a time per plan and date: a lease held in the lake, with an owner and an expiry.

Two official runs for the same date would mix their results (one run's report showing the
other's parameters, a plan computed from one extract and published beside another), so every
job of an official run holds the lock `plan/<ds>` (a scenario holds `scenarios/<name>/plan/<ds>`:
what-ifs run beside the official run, never inside it). The lock is a small JSON object at
`locks/<resource>.json` changed only by conditional writes (S3 `If-None-Match`/`If-Match`, an
flock on a local lake), so two processes can never both believe they hold it.

A lock has a lease: a holder that dies (a killed worker, a lost machine) stops renewing and the
next run takes the lock over once the lease has run out. While a job runs, a heartbeat thread
renews the lease; between the tasks of one run the lease (default 15 minutes) covers the gap.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from stockwise.errors import LakeConflict, RunLocked

log = logging.getLogger(__name__)

PREFIX = "locks/"


def cli_owner() -> str:
    """An owner id for a process outside Airflow (the CLI, a test)."""
    return f"cli:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _now() -> float:
    return time.time()


def _stamp(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


@dataclass(frozen=True)
class Lease:
    resource: str
    owner: str
    acquired: float
    expires: float


def _key(resource: str) -> str:
    return f"{PREFIX}{resource}.json"


def holder(store, resource: str) -> dict | None:
    """The live holder of `resource` (owner, since, until), or None when it is free."""
    cur = store.get_versioned(_key(resource))
    if cur is None:
        return None
    rec = json.loads(cur[0])
    if not rec.get("owner") or rec.get("expires", 0) <= _now():
        return None
    return rec


def _try(store, resource: str, owner: str, lease_s: float) -> Lease | None:
    """One attempt: take the lock if free, expired or already ours; None if someone else holds it."""
    key = _key(resource)
    cur = store.get_versioned(key)
    now = _now()
    rec: dict = json.loads(cur[0]) if cur else {}
    live = bool(rec.get("owner")) and rec.get("expires", 0) > now
    if live and rec["owner"] != owner:
        return None
    acquired = float(rec["acquired"]) if live and rec["owner"] == owner else now
    if rec.get("owner") and rec["owner"] != owner:
        log.warning(
            "taking over lock %s from %s, whose lease ran out at %s", resource, rec["owner"], _stamp(rec["expires"])
        )
    new = {
        "resource": resource,
        "owner": owner,
        "acquired": acquired,
        "expires": now + lease_s,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "renewed": now,
    }
    try:
        store.put_if(key, json.dumps(new).encode(), cur[1] if cur else None)
    except LakeConflict:
        return None
    return Lease(resource, owner, acquired, now + lease_s)


def acquire(store, resource: str, owner: str, lease_s: float = 900, wait_s: float = 0, poll_s: float = 2.0) -> Lease:
    """Take (or renew, when `owner` already holds it) the lock; wait up to `wait_s` for another holder."""
    deadline = _now() + wait_s
    announced = False
    while True:
        lease = _try(store, resource, owner, lease_s)
        if lease is not None:
            return lease
        rec = holder(store, resource)
        if rec is None:
            continue  # freed or expired between the two reads: try again at once
        if _now() >= deadline:
            raise RunLocked(
                f"{resource} is held by another run ({rec['owner']}, on {rec.get('host')} since "
                f"{_stamp(rec['acquired'])}, lease until {_stamp(rec['expires'])}); this run stopped "
                "without touching it. Wait for that run to finish (or its lease to run out) and retry."
            )
        if not announced:
            log.info(
                "%s is held by %s until %s: waiting up to %.0f s",
                resource,
                rec["owner"],
                _stamp(rec["expires"]),
                wait_s,
            )
            announced = True
        time.sleep(min(poll_s, max(deadline - _now(), 0.05)))


def release(store, resource: str, owner: str) -> bool:
    """Give the lock back if `owner` holds it (a conditional write, so never someone else's)."""
    key = _key(resource)
    cur = store.get_versioned(key)
    if cur is None:
        return False
    rec = json.loads(cur[0])
    if rec.get("owner") != owner:
        return False
    done = {"resource": resource, "owner": None, "released_by": owner, "released": _now(), "expires": 0}
    try:
        store.put_if(key, json.dumps(done).encode(), cur[1])
    except LakeConflict:
        return False
    return True


@contextlib.contextmanager
def held(store, resource: str, owner: str, lease_s: float = 900, wait_s: float = 0, release_after: bool = True):
    """Hold the lock for the duration of a block, renewing the lease every third of it."""
    lease = acquire(store, resource, owner, lease_s, wait_s)
    stop = threading.Event()
    lost: list[str] = []

    def beat() -> None:
        while not stop.wait(max(lease_s / 3, 0.05)):
            try:
                if _try(store, resource, owner, lease_s) is None:
                    lost.append("another run took the lock")
                    return
            except Exception as e:  # noqa: BLE001 - a failed renewal must not kill the job; the lease may still hold
                log.warning("could not renew lock %s: %s", resource, e)

    t = threading.Thread(target=beat, name=f"lease-{resource}", daemon=True)
    t.start()
    try:
        yield lease
    finally:
        stop.set()
        t.join(timeout=5)
        if release_after:
            release(store, resource, owner)
    if lost:
        raise RunLocked(f"lost the lock {resource} while running: {lost[0]}; results of this job are suspect")
