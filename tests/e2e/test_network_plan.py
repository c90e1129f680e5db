"""The network plan end to end: the tiny demo written with its stores served by DC01 (`--network`),
every stage run, then the ERP holds transfer orders (DC01 -> stores) and DC01's purchase
requisitions; the stores buy nothing from suppliers; a rerun changes nothing."""

import dataclasses
import io
import json
import sqlite3

import pandas as pd
import pytest

from stockwise import lake
from stockwise.cli import main
from stockwise.erp.demo import generate, write
from stockwise.settings import Settings
from support.demo import TINY, TINY_DS

pytestmark = [pytest.mark.slow, pytest.mark.spark]
D = TINY_DS.isoformat()


@pytest.fixture(scope="module")
def network_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("network") / "stockwise"
    home.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STOCKWISE_HOME", str(home))
        mp.setenv("STOCKWISE_SPARK_MASTER", "local[1]")
        s = Settings()
        demo = generate(dataclasses.replace(TINY, network=True))
        write(demo, s.erp, s.truth)
        assert main(["-q", "run", "--ds", D]) == 0
        yield home, s, demo


def _erp(home):
    with sqlite3.connect(home / "erp.db") as c:
        return (
            pd.read_sql("SELECT * FROM transfer_orders", c),
            pd.read_sql("SELECT * FROM purchase_requisitions", c),
            pd.read_sql("SELECT * FROM stockwise_publications", c),
        )


def test_the_erp_gets_transfers_from_the_dc_and_the_dcs_purchases(network_home):
    home, s, demo = network_home
    transfers, reqs, pubs = _erp(home)
    stores = set(demo.tables["sourcing"]["location_id"])
    assert len(transfers) > 0
    assert set(transfers["from_location_id"]) == {"DC01"} and set(transfers["to_location_id"]) <= stores
    assert (transfers["status"] == "proposed").all()
    # store packs, and never more than the DC had on the run date
    packs = transfers["sku"].map(demo.tables["items"].set_index("sku")["store_pack_size"])
    assert (transfers["qty"] % packs == 0).all() and (transfers["qty"] > 0).all()
    stock = demo.tables["stock"]
    dc = stock[(stock["location_id"] == "DC01") & (stock["date"] == pd.Timestamp(TINY_DS))].set_index("sku")["on_hand"]
    shipped = transfers.groupby("sku")["qty"].sum()
    assert (shipped <= dc.reindex(shipped.index)).all()
    assert (transfers["requested_qty"] >= transfers["qty"]).all()
    # the stores no longer buy from suppliers: the DC does
    assert not reqs["location_id"].isin(stores).any()
    assert set(reqs["location_id"]) <= {"DC01"}
    assert pubs.loc[0, "lines"] == len(transfers) + len(reqs)
    # the plan in the lake says the same, line for line, and why
    store = lake.open_lake(s)
    part = lake.read_manifest(store, "plans", D)
    plan = pd.read_parquet(io.BytesIO(store.get(part.key("reorder_plan.parquet"))))
    t = plan[plan["order_type"] == "transfer"]
    assert len(t) == len(transfers) and t["reason"].str.contains("transfer from DC01").all()
    sim = json.loads(store.get(part.key("simulation.json")))
    assert sim["network"]["checked"] and "network replay" in sim["why"]


def test_the_plan_counts_transfers_on_the_truck_and_learns_the_lanes_lead_times(network_home):
    """The history's transfers: those shipped but not yet received are in the stores' position
    (the demo mapping's open orders), those received teach each lane its lead time."""
    home, s, demo = network_home
    store = lake.open_lake(s)
    plan = pd.read_parquet(io.BytesIO(store.get(lake.read_manifest(store, "plans", D).key("all_positions.parquet"))))
    assert not plan.duplicated(["sku", "location_id"]).any()  # a DC line once, as the DC
    st = plan[plan["echelon"] == "store"].set_index(["sku", "location_id"])
    tr = demo.tables["transfers"]
    ds = pd.Timestamp(TINY_DS)
    on_truck = tr[(tr["ship_date"] <= ds) & ~(tr["received_date"] <= ds)]
    assert len(on_truck) > 0
    due = on_truck.groupby(["sku", "location_id"])["qty"].sum()
    assert (st.loc[due.index, "on_order"] >= due).all()
    assert st["lead_time_source"].isin(["transfers", "transfers + sourcing"]).all()
    assert st["lead_time_days"].between(1.0, 1.2).all()  # the truck takes a day, now and then two


def test_a_rerun_of_the_publish_changes_nothing_in_the_erp(network_home):
    home, s, _ = network_home
    before = _erp(home)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STOCKWISE_HOME", str(home))
        assert main(["-q", "publish", "--ds", D]) == 0
    after = _erp(home)
    for b, a in zip(before[:2], after[:2], strict=True):
        pd.testing.assert_frame_equal(b, a)


@pytest.mark.browser
def test_the_report_shows_the_network_by_echelon_and_the_dc_lines_at_risk(network_home, tmp_path):
    from stockwise.catalog import REPORTS
    from stockwise.screenshots import open_report

    home, s, demo = network_home
    store = lake.open_lake(s)
    plan = pd.read_parquet(io.BytesIO(store.get(lake.read_manifest(store, "plans", D).key("all_positions.parquet"))))
    dcs = plan[plan["echelon"] == "dc"]
    with open_report(store.uri(REPORTS.manifest(store, D).key("index.html"))) as r:
        page = r.page
        section = page.locator("#network")
        assert section.is_visible() and "Network" in section.text_content()
        rows = page.locator("table.network tbody tr")
        assert rows.count() == dcs["location_id"].nunique() == 1
        cells = rows.first.locator("td").all_text_contents()
        assert cells[0] == "DC01" and int(cells[1]) == len(dcs)
        assert int(cells[5]) == len(demo.tables["sourcing"])  # the stores it serves
        risk = page.locator("table.network-risk tbody tr")
        heading = page.locator("h3", has_text="DC lines at risk").text_content()
        assert f"({risk.count()})" in heading
        page.locator("#network").screenshot(path=str(tmp_path / "network.png"))
        assert r.errors == []
