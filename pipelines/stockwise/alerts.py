"""What happens when a task fails for good: a record in the lake, an optional webhook and e-mail,
the run's lock given back, and the last official report marked as superseded by a failed run."""

from __future__ import annotations

import json
import logging
import urllib.request
from datetime import UTC, date, datetime

from stockwise import catalog, lake, runlock
from stockwise.errors import RunLocked
from stockwise.settings import Settings

log = logging.getLogger(__name__)


def task_failed(
    *,
    ds: date,
    dag_id: str,
    task_id: str,
    run_id: str,
    try_number: int | None,
    error: BaseException | str | None,
    owner: str,
    scenario: str | None,
    official_plan: bool,
    settings: Settings | None = None,
) -> dict:
    from stockwise.orchestration import describe_error

    settings = settings or (Settings(scenario=scenario) if scenario else Settings())
    store = lake.open_lake(settings)
    from stockwise import masking

    reason = masking.scrub(describe_error(error), masking.secret_values(settings))
    record = {
        "ds": ds.isoformat(),
        "dag_id": dag_id,
        "task_id": task_id,
        "run_id": run_id,
        "try_number": try_number,
        "scenario": scenario,
        "error": reason,
        "error_type": type(error).__name__ if error else None,
        "failed_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    key = f"{lake.partition_prefix(catalog.FAILURES, ds.isoformat())}/{dag_id}__{task_id}__{_safe(run_id)}.json"
    store.put(key, json.dumps(record, indent=2).encode())
    record["record"] = store.uri(key)
    log.error(
        "task %s.%s failed for %s: %s (record: %s)", dag_id, task_id, ds, reason.splitlines()[0], record["record"]
    )
    if runlock.release(store, f"plan/{ds.isoformat()}", owner):
        log.info("released the lock of %s for %s", owner, ds)
    # a run that could not start because another holds the date supersedes nothing: that one is planning
    if official_plan and not _is(error, RunLocked):
        from stockwise.report import mark_superseded

        marked = mark_superseded(store, ds, task_id, reason)
        if marked:
            record["superseded_report"] = marked
    if settings.alert_webhook_url:
        notify(settings.alert_webhook_url.get_secret_value(), record)
    if settings.alert_email_to and settings.smtp_url:
        email(settings.smtp_url.get_secret_value(), settings.alert_email_from, settings.alert_email_to, record)
    return record


def _headline(record: dict) -> str:
    return record.get("headline") or f"Stockwise: {record['dag_id']}.{record['task_id']} failed for {record['ds']}"


def intraday_revision(settings: Settings, revision: dict, lines, exceptions) -> dict:
    """What an intraday revision raised that cannot wait (urgent lines, a position below its
    safety stock, an A item out of stock, a short receipt), to the on-call's webhook and e-mail
    within the run; the ERP already has them as requisitions and planning exceptions."""
    urgent = lines[lines["urgent"]] if len(lines) else lines
    detail = [f"urgent: order {r.order_qty:g} of {r.sku} at {r.location_id} ({r.reason})" for r in urgent.itertuples()]
    detail += [f"{r.kind}: {r.sku} at {r.location_id}: {r.detail}" for r in exceptions.itertuples()]
    record = {
        "headline": f"Stockwise: intraday revision {revision['plan_id']} for {revision['day']}: "
        f"{len(urgent)} urgent line(s), {len(exceptions)} exception(s)",
        "ds": revision["day"],
        "dag_id": "stock_events",
        "task_id": "replan",
        "plan_id": revision["plan_id"],
        "version": revision["version"],
        "error": "\n".join(detail[:50]) + (f"\n... and {len(detail) - 50} more" if len(detail) > 50 else ""),
    }
    record["sent"] = []
    if settings.alert_webhook_url and notify(settings.alert_webhook_url.get_secret_value(), record):
        record["sent"].append("webhook")
    if (
        settings.alert_email_to
        and settings.smtp_url
        and email(settings.smtp_url.get_secret_value(), settings.alert_email_from, settings.alert_email_to, record)
    ):
        record["sent"].append("e-mail")
    return record


def email(smtp_url: str, sender: str, to: str, record: dict, timeout: float = 20.0) -> bool:
    """Mail the failure to `to` (comma-separated) through `smtp_url`; a mail server that is down or
    refuses is logged, never raised (the record in the lake stays the source of truth)."""
    import smtplib
    from email.message import EmailMessage
    from urllib.parse import unquote, urlsplit

    u = urlsplit(smtp_url)
    if u.scheme not in ("smtp", "smtps") or not u.hostname:
        log.warning("alert e-mail not sent: STOCKWISE_SMTP_URL must be smtp://host[:port] or smtps://...")
        return False
    msg = EmailMessage()
    msg["Subject"], msg["From"], msg["To"] = _headline(record), sender, to
    lines = [f"{k}: {v}" for k, v in record.items() if k != "error"]
    msg.set_content(f"{_headline(record)}.\n\n{record['error']}\n\n" + "\n".join(lines) + "\n")
    cls = smtplib.SMTP_SSL if u.scheme == "smtps" else smtplib.SMTP
    try:
        with cls(u.hostname, u.port or (465 if u.scheme == "smtps" else 25), timeout=timeout) as server:
            if u.scheme == "smtp":
                server.ehlo()
                if server.has_extn("starttls"):
                    server.starttls()
                    server.ehlo()
            if u.username:
                server.login(unquote(u.username), unquote(u.password or ""))
            server.send_message(msg, to_addrs=[a.strip() for a in to.split(",") if a.strip()])
    except (OSError, smtplib.SMTPException) as e:
        log.warning("alert e-mail could not be sent through %s: %s", u.hostname, e)
        return False
    return True


def notify(url: str, record: dict, timeout: float = 10.0) -> bool:
    """POST the record as JSON; a webhook that is down is logged, never raised."""
    summary = " / ".join(record["error"].splitlines()[:3])[:600]
    body = json.dumps({"text": f"{_headline(record)}: {summary}", **record}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - the operator's own URL
            ok = 200 <= resp.status < 300
    except OSError as e:
        log.warning("alert webhook could not be reached: %s", e)
        return False
    if not ok:
        log.warning("alert webhook answered %s", resp.status)
    return ok


def _is(error: BaseException | str | None, kind: type) -> bool:
    return isinstance(error, kind) or isinstance(getattr(error, "__cause__", None), kind)


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[:120]
