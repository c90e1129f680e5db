"""A task that fails for good reaches people: an e-mail to the on-call through the operator's
mail server (a server that is down is logged, never a second failure), and the DAGs name their
owner with a contact link."""

from datetime import date

import pytest

from stockwise import alerts
from stockwise.settings import Settings
from support.smtp import SmtpServer


def _fail(settings: Settings) -> dict:
    return alerts.task_failed(
        ds=date(2025, 12, 31),
        dag_id="inventory_planning",
        task_id="validate",
        run_id="scheduled__2025-12-31",
        try_number=3,
        error=ValueError("stale data: sales end 2025-12-31, 334 days before the run date"),
        owner="scheduled__2025-12-31",
        scenario=None,
        official_plan=False,
        settings=settings,
    )


def test_a_failure_is_mailed_to_the_on_call_and_a_mail_server_down_is_only_logged(home, caplog):
    with SmtpServer() as smtp:
        url = smtp.url.replace("smtp://", "smtp://ops:S3cret-mail-pw@")
        to = "oncall@shop.example, planner@shop.example"
        rec = _fail(Settings(alert_email_to=to, smtp_url=url, alert_email_from="stockwise@shop.example"))
    ((rcpt, msg),) = smtp.messages
    assert rcpt == ["oncall@shop.example", "planner@shop.example"]
    assert msg["Subject"] == "Stockwise: inventory_planning.validate failed for 2025-12-31"
    assert msg["From"] == "stockwise@shop.example"
    body = msg.get_payload(decode=True).decode()
    assert "334 days before the run date" in body and rec["record"] in body and "try_number: 3" in body
    assert smtp.logins  # the operator's credentials were used, and never logged
    assert "S3cret-mail-pw" not in caplog.text

    caplog.clear()
    rec = _fail(Settings(alert_email_to="oncall@shop.example", smtp_url="smtp://127.0.0.1:9"))  # nothing listens
    assert rec["error"].startswith("ValueError") or "334 days" in rec["error"]
    assert "alert e-mail could not be sent through 127.0.0.1" in caplog.text


def test_no_mail_without_both_an_address_and_a_server(home):
    with SmtpServer() as smtp:
        _fail(Settings(smtp_url=smtp.url))
        _fail(Settings(alert_email_to="oncall@shop.example"))
    assert smtp.messages == []


@pytest.mark.parametrize(
    ("contact", "links"),
    [
        (None, {"stockwise": "mailto:stockwise-oncall@localhost"}),
        ("https://wiki.shop.example/oncall/stockwise", {"stockwise": "https://wiki.shop.example/oncall/stockwise"}),
        ("call Ann", {}),  # not a link Airflow accepts: left out, the DAGs still load
    ],
)
def test_the_dags_owner_link(monkeypatch, contact, links):
    from stockwise.orchestration import owner_links

    if contact:
        monkeypatch.setenv("STOCKWISE_OWNER_CONTACT", contact)
    assert owner_links() == links
