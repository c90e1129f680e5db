"""Stock events through a real Redis stream into the lake, and the intraday replan they cause,
published to the ERP as revisions of the plan in force (`stockwise.intraday`)."""

import json
import os
import subprocess
import sys
import uuid
from datetime import date

import pandas as pd
import pytest
import sqlalchemy as sa

from stockwise import events as ev
from stockwise import intraday, lake, report
from stockwise.catalog import EVENTS, EVENTS_QUARANTINE, INTRADAY, PLANS, REPORTS
from stockwise.eventqueue import EventQueue
from stockwise.settings import Settings
from support.smtp import SmtpServer

PLAN_DAY = date(2025, 12, 31)
# a run in its own process, with a short lease on the lock (a killed run holds it until then)
KILLED_RUN = (
    "from datetime import date; from stockwise import intraday; intraday.LEASE_S = 2.0; intraday.run(date(2026, 1, 1))"
)
DAY = date(2026, 1, 1)


def _positions() -> pd.DataFrame:
    """The plan in force: A orders today (reorder point 8), B does not (safety stock 4), C untouched."""
    return pd.DataFrame(
        {
            "sku": ["A", "B", "C", "D"],
            "location_id": ["S01", "S01", "S02", "S02"],
            "supplier_id": ["SUP1", "SUP2", "SUP1", "SUP1"],
            "on_hand": [10.0, 7.0, 30.0, 12.0],
            "on_order": [0.0, 0.0, 0.0, 0.0],
            "backorders": [0.0, 0.0, 0.0, 0.0],
            "inventory_position": [10.0, 7.0, 30.0, 12.0],
            "reorder_point": [8.0, 6.0, 5.0, 5.0],
            "order_up_to": [20.0, 15.0, 40.0, 20.0],
            "safety_stock": [3.0, 4.0, 2.0, 2.0],
            "cycle_qty": [10.0, 10.0, 10.0, 10.0],
            "pack_size": [1.0, 1.0, 1.0, 1.0],
            "moq": [0.0, 0.0, 0.0, 0.0],
            "unit_cost": [2.0, 3.0, 1.0, 1.0],
            "order_today": [True, False, True, True],
            "order_qty": [0.0, 0.0, 0.0, 0.0],
            "needs_master_data": ["", "", "", ""],
            "policy": ["rsS"] * 4,
            "abc": ["B", "A", "C", "A"],
            "lead_time_days": [3.0, 5.0, 3.0, 3.0],
        }
    )


def _event(i, kind, sku, loc, qty, hour=10, **extra) -> str:
    return json.dumps(
        {
            "v": 1,
            "id": f"e{i}",
            "kind": kind,
            "sku": sku,
            "location_id": loc,
            "qty": qty,
            "at": f"{DAY.isoformat()}T{hour:02d}:00:00+00:00",
            "source": "pos",
            **extra,
        }
    )


@pytest.fixture
def stream(home, redis_url, monkeypatch):
    name = f"stockwise-test:{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("STOCKWISE_EVENTS_URL", redis_url)
    monkeypatch.setenv("STOCKWISE_EVENTS_STREAM", name)
    s = Settings()
    PLANS.write(lake.open_lake(s), PLAN_DAY, {"all_positions.parquet": lake.parquet_bytes(_positions())})
    q = EventQueue(redis_url, stream=name)
    yield q
    q.r.delete(name)


def _erp_lines(settings: Settings) -> pd.DataFrame:
    eng = sa.create_engine(settings.erp)
    with eng.connect() as c:
        return pd.read_sql("select * from purchase_requisitions order by plan_id, sku", c)


def test_events_are_kept_once_and_the_touched_positions_replanned_as_a_revision(stream):
    s = Settings()
    store = lake.open_lake(s)
    stream.publish(
        [
            _event(1, "movement", "A", "S01", -5),  # A: 10 -> 5, at or below its reorder point 8: order up to 20
            _event(2, "movement", "B", "S01", -5),  # B: 7 -> 2, below safety stock 4 on a non-order day: urgent
            _event(2, "movement", "B", "S01", -5),  # the same event sent twice
            _event(3, "receipt", "D", "S02", 5, po_id="PO9", expected_qty=10),  # half of what was expected
            "{not json",
            json.dumps({"v": 2, "id": "x", "kind": "count"}),
        ]
    )
    with SmtpServer() as smtp:  # what cannot wait reaches the on-call within the run
        r = intraday.run(DAY, Settings(alert_email_to="oncall@shop.example", smtp_url=smtp.url))
    ((_, mail),) = smtp.messages
    subject = " ".join(str(mail["Subject"]).split())  # a long subject is folded over two lines
    assert subject == "Stockwise: intraday revision SW-2025-12-31-r1 for 2026-01-01: 1 urgent line(s), 2 exception(s)"
    body = mail.get_payload(decode=True).decode()
    assert "urgent: order 13 of B at S01" in body and "short_receipt: D at S02: receipt PO9: 5 of 10" in body
    assert (r.read, r.new_events, r.duplicates, r.quarantined) == (6, 3, 1, 2), r
    assert r.backlog == 0  # acknowledged: nothing left in the stream's group
    kept = EVENTS.read(store, DAY)
    assert sorted(kept["id"]) == ["e1", "e2", "e3"]
    bad = EVENTS_QUARANTINE.read(store, DAY)
    assert len(bad) == 2 and "not JSON" in bad["error"].iloc[0] and "version 2" in bad["error"].iloc[1]

    (rev,) = r.revisions
    assert rev["plan_id"] == "SW-2025-12-31-r1" and rev["revision"] == 1 and rev["lines"] == 2 and rev["urgent"] == 1
    lines = INTRADAY.read(store, DAY).set_index("sku")
    assert lines.loc["A", "order_qty"] == 15 and not lines.loc["A", "urgent"]
    assert lines.loc["B", "order_qty"] == 13 and lines.loc["B", "urgent"]  # up to 15 from 2
    assert "C" not in lines.index and "D" not in lines.index  # C untouched; D still above its reorder point
    exc = INTRADAY.read(store, DAY, "exceptions.parquet")
    kinds = set(zip(exc["sku"], exc["kind"], strict=True))
    assert kinds == {("B", "below_safety_stock"), ("D", "short_receipt")}, kinds
    erp = _erp_lines(s)
    assert erp[["plan_id", "sku", "qty"]].values.tolist() == [
        ["SW-2025-12-31-r1", "A", 15.0],
        ["SW-2025-12-31-r1", "B", 13.0],
    ]

    # replayed (the source sent the batch again): nothing changes, no revision
    stream.publish([_event(1, "movement", "A", "S01", -5), _event(2, "movement", "B", "S01", -5)])
    r2 = intraday.run(DAY, s)
    assert (r2.new_events, r2.duplicates, r2.revisions) == (0, 2, []), r2
    # a later sale of A: its position counts today's 15 as ordered, so nothing more (not twice)
    stream.publish([_event(4, "movement", "A", "S01", -2, hour=12)])
    r3 = intraday.run(DAY, s)
    assert (r3.new_events, r3.revisions) == (1, []), r3
    # a count finds B's shelf at 0 and a stockout empties A: A is below safety stock now -> revision 2
    stream.publish([_event(5, "count", "B", "S01", 0, hour=13), _event(6, "stockout", "A", "S01", None, hour=14)])
    r4 = intraday.run(DAY, s)
    (rev2,) = r4.revisions
    assert rev2["plan_id"] == "SW-2025-12-31-r2"
    lines2 = INTRADAY.read(store, DAY).set_index("sku")
    # A: 0 on hand + 15 ordered = 15 > reorder point: nothing more; B: 0 + 13 = 13 > 6: nothing more;
    # the revision is for the new exception only (B, an A item, out of stock)
    assert lines2.empty
    exc2 = INTRADAY.read(store, DAY, "exceptions.parquet")
    assert ("B", "stockout_a_item") in set(exc2[["sku", "kind"]].itertuples(index=False, name=None))
    assert len(_erp_lines(s)) == 2  # still the two lines of revision 1


def _intraday_part(page: str) -> str:
    return page.split(report.INTRADAY_MARK)[1].split(report.INTRADAY_END)[0]


def test_the_report_of_the_plan_in_force_shows_what_the_revisions_added(stream, monkeypatch):
    s = Settings()
    store = lake.open_lake(s)
    # the nightly report of the plan in force, as rendered: the intraday section empty
    page = f"<h1>Reorder plan</h1>{report.INTRADAY_MARK}{report.INTRADAY_END}<h2>Worklist</h2>"
    REPORTS.write(store, PLAN_DAY, {"index.html": page.encode(), "reorder_plan.xlsx": b"book"}, {"plan_id": "p"})
    stream.publish(
        [
            _event(1, "movement", "A", "S01", -5),
            _event(2, "movement", "B", "S01", -5),
            _event(3, "receipt", "D", "S02", 5, po_id="PO9", expected_qty=10),
        ]
    )
    (rev,) = intraday.run(DAY, s).revisions
    assert rev["report"] == REPORTS.uri(store, PLAN_DAY)
    first = _intraday_part(REPORTS.read_bytes(store, PLAN_DAY).decode())
    assert "2 exception(s) and 2 line(s) (1 urgent) on 2026-01-01" in first and "SW-2025-12-31-r1" in first
    assert "below safety stock" in first and "receipt PO9: 5 of 10 expected (50% short)" in first
    assert first.count("<tr>") == 2 + 1 + 2 + 1  # two exceptions, two lines, each table with its header
    assert REPORTS.read_bytes(store, PLAN_DAY, "reorder_plan.xlsx") == b"book"  # the rest of the report kept
    assert REPORTS.read_bytes(store, PLAN_DAY).decode().endswith("<h2>Worklist</h2>")

    # revision 2 adds an exception (B, an A item, counted empty): all three listed, each with its revision
    stream.publish([_event(5, "count", "B", "S01", 0, hour=13)])
    (rev2,) = intraday.run(DAY, s).revisions
    second = _intraday_part(REPORTS.read_bytes(store, PLAN_DAY).decode())
    assert rev2["revision"] == 2 and "3 exception(s) and 2 line(s) (1 urgent)" in second
    exc = INTRADAY.read(store, DAY, "exceptions.parquet").set_index("kind")
    assert exc["revision"].to_dict() == {"below_safety_stock": 1, "short_receipt": 1, "stockout_a_item": 2}
    assert "out of stock" in second and "SW-2025-12-31-r2" in second
    # a re-render of the nightly report carries the same section; a plan no revision is for has none
    assert report.intraday_section(store, PLAN_DAY) == second
    assert report.intraday_section(store, date(2025, 12, 30)) == ""

    # the page cannot be written (a full disk, a permission): the revision stands, the run goes on
    def broken(*_):
        raise OSError("no space left on device")

    monkeypatch.setattr(report, "add_intraday", broken)
    stream.publish([_event(7, "count", "C", "S02", 0, hour=15)])
    (rev3,) = intraday.run(DAY, s).revisions
    assert rev3["revision"] == 3 and rev3["report"] is None and rev3["lines"] == 1
    assert _intraday_part(REPORTS.read_bytes(store, PLAN_DAY).decode()) == second  # as it was


def test_a_run_killed_after_the_erp_commit_is_healed_by_the_next(stream, home):
    s = Settings()
    store = lake.open_lake(s)
    stream.publish([_event(1, "movement", "A", "S01", -6)])
    env = {"STOCKWISE_FAULT_POINT": "intraday.after_erp_commit"}
    code = KILLED_RUN

    p = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True)
    assert p.returncode == 86, p.stderr  # killed between the ERP commit and the lake flip
    assert not INTRADAY.exists(store, DAY)  # the lake does not show the revision the ERP holds
    assert _erp_lines(s)["plan_id"].tolist() == ["SW-2025-12-31-r1"]
    # the next run (no new event) flips the revision the ERP committed and does not order again
    r = intraday.run(DAY, s)
    assert (r.read, r.new_events, r.revisions) == (0, 0, []), r
    assert INTRADAY.manifest(store, DAY).meta["revision"] == 1
    assert INTRADAY.read(store, DAY).set_index("sku").loc["A", "order_qty"] == 16
    assert len(_erp_lines(s)) == 1


def test_a_run_killed_before_the_report_page_leaves_it_to_the_next_run(stream):
    s = Settings()
    store = lake.open_lake(s)
    page = f"<h1>Reorder plan</h1>{report.INTRADAY_MARK}{report.INTRADAY_END}"
    REPORTS.write(store, PLAN_DAY, {"index.html": page.encode()}, {"plan_id": "p"})
    stream.publish([_event(1, "movement", "A", "S01", -6)])
    env = {**os.environ, "STOCKWISE_FAULT_POINT": "intraday.before_report"}
    p = subprocess.run([sys.executable, "-c", KILLED_RUN], env=env, capture_output=True, text=True)
    assert p.returncode == 86, p.stderr  # killed after the revision's flip, before its page
    assert INTRADAY.manifest(store, DAY).meta["revision"] == 1
    assert _intraday_part(REPORTS.read_bytes(store, PLAN_DAY).decode()) == ""
    assert report.intraday_behind(store, PLAN_DAY)
    # the next run has nothing new to publish, and still brings the page up to the lake
    r = intraday.run(DAY, s)
    assert (r.new_events, r.revisions) == (0, []), r
    assert "SW-2025-12-31-r1" in _intraday_part(REPORTS.read_bytes(store, PLAN_DAY).decode())
    assert not report.intraday_behind(store, PLAN_DAY)
    version = REPORTS.manifest(store, PLAN_DAY).version
    intraday.run(DAY, s)  # up to date: not written again
    assert REPORTS.manifest(store, PLAN_DAY).version == version


def test_a_run_killed_before_acknowledging_reads_the_batch_again_and_keeps_it_once(stream):
    s = Settings()
    stream.publish([_event(1, "movement", "C", "S02", -1), _event(2, "movement", "C", "S02", -1), "{bad"])

    p = subprocess.run(
        [
            sys.executable,
            "-c",
            KILLED_RUN,
        ],
        env={**os.environ, "STOCKWISE_FAULT_POINT": "intraday.before_ack"},
        capture_output=True,
        text=True,
    )
    assert p.returncode == 86, p.stderr
    assert stream.backlog() == 3  # read, in the lake (or quarantined), not acknowledged
    stream.publish([_event(3, "movement", "C", "S02", -1), "also bad"])
    r = intraday.run(DAY, s)
    assert (r.read, r.new_events, r.duplicates, r.backlog) == (5, 1, 2, 0), r
    assert sorted(EVENTS.read(lake.open_lake(s), DAY)["id"]) == ["e1", "e2", "e3"]
    bad = EVENTS_QUARANTINE.read(lake.open_lake(s), DAY)
    assert sorted(bad["raw"]) == ["also bad", "{bad"]  # each once: the re-read one, and the new one


def test_events_of_a_day_without_a_plan_in_force_are_kept_and_not_replanned(stream):
    s = Settings()
    late = json.loads(_event(1, "movement", "A", "S01", -1))
    late["at"] = "2026-02-01T09:00:00+01:00"  # a month after the last plan: no plan in force
    stream.publish([json.dumps(late)])
    r = intraday.run(DAY, s)
    assert r.new_events == 1 and r.days == ["2026-02-01"] and r.revisions == []
    assert EVENTS.exists(lake.open_lake(s), date(2026, 2, 1))


def test_demo_events_replays_a_day_of_the_demo_erp_as_valid_events(demo_home, redis_url, monkeypatch):
    from stockwise.cli import main
    from stockwise.erp import demo_events

    name = f"stockwise-test:{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("STOCKWISE_EVENTS_URL", redis_url)
    monkeypatch.setenv("STOCKWISE_EVENTS_STREAM", name)
    s = Settings()
    day, moves = demo_events.read_movements(s.erp, None)
    assert day == date(2025, 12, 31) and len(moves)
    evs = demo_events.as_events(moves, date(2026, 1, 1), seed=1)
    got = ev.frame(evs)
    # every unit sold that day is in the split sales, spread over the opening hours of the new day
    sold = -moves.loc[moves["kind"] == "sale", "qty"].sum()
    assert got.loc[got["source"] == "demo-pos", "qty"].sum() == pytest.approx(-sold)
    assert (got["at"].dt.date == date(2026, 1, 1)).all() and got["id"].is_unique
    assert set(got["kind"]) <= {"movement", "receipt"}
    try:
        assert main(["-q", "demo-events", "--limit", "20"]) == 0
        q = EventQueue(redis_url, stream=name)
        assert q.r.xlen(name) == 20
        assert all(ev.parse(f[b"e"]).at.date() == date(2026, 1, 1) for _, f in q.r.xrange(name))
    finally:
        EventQueue(redis_url, stream=name).r.delete(name)


def test_a_queue_that_is_down_fails_the_run_clearly_and_nothing_is_lost(stream, monkeypatch):
    from stockwise.errors import QueueUnavailable
    from stockwise.stack import free_port

    stream.publish([_event(1, "movement", "A", "S01", -5)])
    monkeypatch.setenv("STOCKWISE_EVENTS_URL", f"redis://:pw@127.0.0.1:{free_port()}/0")  # nothing listens
    with pytest.raises(QueueUnavailable, match=r"cannot be reached.*stay in the stream") as e:
        intraday.run(DAY, Settings())
    assert "pw" not in str(e.value)  # the URL masked
    assert not EVENTS.exists(lake.open_lake(Settings()), DAY) and stream.backlog() == 1  # waiting, not lost


def test_two_runs_at_once_take_turns_on_the_lock(stream, monkeypatch):
    from stockwise import runlock
    from stockwise.errors import RunLocked

    s = Settings()
    store = lake.open_lake(s)
    stream.publish([_event(1, "movement", "A", "S01", -5)])
    monkeypatch.setattr(intraday, "LEASE_S", 1.0)  # the second run waits 2 s, then gives up
    with runlock.held(store, intraday.LOCK, "another-run", lease_s=30), pytest.raises(RunLocked):
        intraday.run(DAY, s)
    assert stream.backlog() == 1 and not EVENTS.exists(store, DAY)  # it touched nothing
    r = intraday.run(DAY, s)  # the lock given back: the next run takes the events
    assert r.new_events == 1 and stream.backlog() == 0
