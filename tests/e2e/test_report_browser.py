"""The planner's report as a planner sees it: opened from the lake in headless Chromium."""

import json
import os
import uuid
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from stockwise import intraday, lake
from stockwise.catalog import REPORTS
from stockwise.eventqueue import EventQueue
from stockwise.screenshots import open_report
from stockwise.settings import Settings
from support.demo import TINY_DS

pytestmark = [pytest.mark.dags, pytest.mark.slow, pytest.mark.spark, pytest.mark.browser]
D = TINY_DS.isoformat()


def _plan_day():
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(Settings().great_expectations_dir.parent / "dags")).dags["inventory_planning"]
    dr = dag.test(logical_date=pd.Timestamp(TINY_DS, tz="UTC").to_pydatetime())
    return {ti.task_id: str(ti.state) for ti in dr.get_task_instances()}


def test_the_worklist_filters_searches_and_sorts_in_chromium(airflow_db, demo_home, monkeypatch, tmp_path, redis_url):
    monkeypatch.setenv("STOCKWISE_SPARK_MASTER", "local[1]")
    states = _plan_day()
    assert set(states.values()) == {"success"}, states
    store = lake.open_lake(Settings())
    plan = lake.read_parquet(store, "plans", D, "reorder_plan.parquet")
    assert len(plan) > 1
    # screenshots kept where CI collects artifacts (TEST_ARTIFACTS), else with the test's files
    shots = Path(os.environ.get("TEST_ARTIFACTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)

    with open_report(store.uri(REPORTS.manifest(store, D).key("index.html"))) as r:
        page = r.page
        page.screenshot(path=str(shots / "report-top.png"))
        # the one-page PDF for management and the workbook sit beside the page, linked from it
        part = REPORTS.manifest(store, D)
        assert store.get(part.key("summary.pdf")).startswith(b"%PDF") and "reorder_plan.xlsx" in part.files
        assert page.locator("a", has_text="PDF summary").get_attribute("href") == "summary.pdf"
        assert page.locator("h2", has_text="Money").count() == 1
        titles = page.locator("#worklist thead th").all_text_contents()
        rows = page.locator("#worklist tbody tr:not([hidden])")
        bar = page.locator(".tools[data-table='worklist']")

        def column(title):
            i = titles.index(title) + 1
            return rows.locator(f"td:nth-child({i})").all_text_contents()

        def values(title):
            i = titles.index(title) + 1
            return [float(v) for v in rows.locator(f"td:nth-child({i})").evaluate_all("c => c.map(e => e.dataset.v)")]

        # every order line, most urgent first
        assert rows.count() == len(plan) and bar.locator(".count").text_content() == f"{len(plan)} of {len(plan)} shown"
        assert column("Need by") == sorted(column("Need by"))
        assert set(column("Runs out")) - {""}  # a run-out day where demand is expected

        # search narrows to the lines that mention it
        sku = str(plan["sku"].iloc[0])
        bar.locator("input").fill(sku)
        assert 1 <= rows.count() < len(plan) and all(sku in t for t in rows.all_inner_texts())
        bar.locator("input").fill("")
        assert rows.count() == len(plan)

        # a supplier's lines only, counted as the plan counts them
        supplier = sorted(plan["supplier_id"].astype(str).unique())[0]
        bar.locator("select[aria-label='Supplier']").select_option(label=supplier)
        n = int((plan["supplier_id"].astype(str) == supplier).sum())
        assert rows.count() == n and set(column("Supplier")) == {supplier}
        assert bar.locator(".count").text_content() == f"{n} of {len(plan)} shown"
        bar.locator("select[aria-label='Supplier']").select_option(value="")

        # one kind of exception: the lines that list it (a line lists several), counted as listed
        listed = [set(t.split(", ")) - {""} for t in column("Exceptions")]
        kinds = bar.locator("select[aria-label='Exceptions'] option").all_text_contents()[1:]
        assert kinds == sorted(set().union(*listed)) and kinds  # the demo has overrides, anomalies, ...
        for kind in kinds:
            bar.locator("select[aria-label='Exceptions']").select_option(label=kind)
            assert rows.count() == sum(kind in k for k in listed) >= 1
            assert all(kind in t.split(", ") for t in column("Exceptions"))
        bar.locator("select[aria-label='Exceptions']").select_option(value="")
        assert rows.count() == len(plan)

        # sorting by a column, both ways, on the raw numbers (not the formatted text)
        header = page.locator("#worklist thead th", has_text="Order value")
        header.click()
        assert values("Order value") == sorted(values("Order value"))
        assert header.get_attribute("aria-sort") == "ascending"
        header.click()
        assert values("Order value") == sorted(values("Order value"), reverse=True)
        page.locator("h2", has_text="Worklist").evaluate("e => e.scrollIntoView()")
        page.screenshot(path=str(shots / "report-worklist.png"))

        # one purchase order per supplier ordered from today
        assert page.locator("#purchase-orders tbody tr").count() == plan["supplier_id"].nunique()

        # the charts are images that loaded, and nothing failed (a script the page's policy
        # refused, or a script error, would be here)
        widths = page.locator("img").evaluate_all("imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
        assert widths and all(w > 0 for w in widths)
        assert r.errors == []

        # a line's SKU opens its page: sales, forecast and projected stock, the reason, back link
        first = page.locator("#worklist tbody tr").first
        sku, location = (
            first.locator("td").nth(titles.index("SKU")).inner_text(),
            first.locator("td").nth(titles.index("Location")).inner_text(),
        )
        first.locator("a").click()
        page.wait_for_load_state("load")
        assert page.locator("h1").inner_text() == f"{sku} at {location}"
        line = plan[(plan["sku"] == sku) & (plan["location_id"] == location)].iloc[0]
        assert page.locator("p.reason").inner_text() == line["reason"]
        assert page.locator("img").evaluate("i => i.complete ? i.naturalWidth : 0") > 400
        page.screenshot(path=str(shots / "report-position.png"), full_page=True)
        page.locator("a", has_text="back to the plan").click()
        page.wait_for_load_state("load")
        assert page.locator("#worklist tbody tr").count() == len(plan) and r.errors == []
    assert (shots / "report-worklist.png").stat().st_size > 10_000

    # the next morning a count finds an A item's shelf empty: the intraday revision is in the
    # plan's report, at the top, before anything else a planner reads
    stream = f"stockwise-test:{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("STOCKWISE_EVENTS_URL", redis_url)
    monkeypatch.setenv("STOCKWISE_EVENTS_STREAM", stream)
    positions = lake.read_parquet(store, "plans", D, "all_positions.parquet")
    # counts of 0: an A item with nothing on order (out of stock), and an item whose position
    # without its shelf (what is on order and ordered today) is below its safety stock
    empty = (positions["on_order"] == 0) & (positions["order_qty"] == 0)
    pick = positions[(positions["abc"] == "A") & empty].iloc[0]
    left = positions["on_order"] + positions["order_qty"]
    low = positions[(positions["abc"] != "A") & (left < positions["safety_stock"])].iloc[0]
    expected = [(pick, "A item out of stock"), (low, "below safety stock")]
    if left[pick.name] < pick["safety_stock"]:
        expected.append((pick, "below safety stock"))
    day = TINY_DS + timedelta(days=1)
    queue = EventQueue(redis_url, stream=stream)
    try:
        queue.publish(
            [
                json.dumps(
                    {
                        "v": 1,
                        "id": f"count-{k}",
                        "kind": "count",
                        "sku": p["sku"],
                        "location_id": p["location_id"],
                        "qty": 0,
                        "at": f"{day.isoformat()}T09:3{k}:00+00:00",
                        "source": "count",
                    }
                )  # fmt: skip
                for k, p in enumerate((pick, low))
            ]
        )
        (rev,) = intraday.run(day).revisions
    finally:
        queue.r.delete(stream)
    assert rev["report"] == REPORTS.uri(store, D)
    with open_report(rev["report"]) as r:
        box = r.page.locator(".intraday")
        n = len(expected)
        assert box.is_visible() and box.locator("h2").inner_text().startswith(f"Since this plan: {n} exception(s)")
        cells = box.locator(".intraday-exceptions tbody tr").all_inner_texts()
        assert len(cells) == n
        assert sorted((c.split("\t")[0], c.split("\t")[1]) for c in cells) == sorted((k, p["sku"]) for p, k in expected)
        assert box.bounding_box()["y"] < r.page.locator("h2", has_text="Worklist").bounding_box()["y"]
        assert r.page.locator("#worklist tbody tr").count() == len(plan) and r.errors == []
        box.screenshot(path=str(shots / "report-intraday.png"))
