"""The networked demo ERP (`DemoConfig.network`): DC01 holds stock over the whole history, the
stores get transfers from it on their truck days and it buys from the suppliers; what it ships
is capped by what it has, so its shortages reach the shelves. The extracts (transfers, open
orders with the transfers on the truck) read it back through the demo mapping."""

from datetime import date

import numpy as np
import pandas as pd
import pytest

from stockwise.erp.demo import DemoConfig, generate, write
from stockwise.erp.mapping import load_mapping
from stockwise.erp.schema import conform
from stockwise.erp.sql import SqlConnector

CFG = DemoConfig(skus=40, stores=3, days=300, end=date(2025, 12, 31), seed=5, network=True)


@pytest.fixture(scope="module")
def net():
    return generate(CFG)


def _dc_book(t: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per sku x day at DC01: the end-of-day book, yesterday's, and the day's movements."""
    st = t["stock"][t["stock"]["location_id"] == "DC01"]
    book = st.pivot(index="date", columns="sku", values="on_hand").sort_index()
    mv = t["movements"][t["movements"]["location_id"] == "DC01"]
    day = mv["ts"].dt.normalize()
    flows = {
        k: mv[mv["kind"] == k].groupby([day[mv["kind"] == k], "sku"])["qty"].sum().unstack().reindex_like(book)
        for k in ("receipt", "transfer")
    }
    return book, flows["receipt"].fillna(0.0), flows["transfer"].fillna(0.0)


def test_the_dc_books_what_it_receives_and_ships_and_never_ships_what_it_has_not(net):
    t = net.tables
    book, received, shipped = _dc_book(t)
    assert (book.fillna(0) >= 0).all().all()
    # the book moves by exactly the day's receipts and shipments (no anomaly at the DC)
    moved = book.diff().iloc[1:].to_numpy()
    both = ~np.isnan(moved)
    assert np.allclose(moved[both], (received + shipped).iloc[1:].to_numpy()[both])
    # what left on a day never exceeds yesterday's stock plus the day's receipts
    avail = book.shift(1).iloc[1:] + received.iloc[1:]
    assert ((-shipped.iloc[1:]) <= avail.fillna(np.inf) + 1e-9).all().all()
    tr = t["transfers"]
    pack = tr["sku"].map(t["items"].set_index("sku")["store_pack_size"])
    assert (tr["qty"] > 0).all() and (tr["qty"] <= tr["requested_qty"]).all() and (tr["qty"] % pack == 0).all()
    assert set(tr["source_id"]) == {"DC01"} and set(tr["location_id"]) == set(t["sourcing"]["location_id"])


def test_a_short_dc_cuts_the_stores_in_fair_shares_and_its_shortages_reach_the_shelves(net):
    t = net.tables
    tr = t["transfers"]
    cut = tr[tr["qty"] < tr["requested_qty"]]
    assert len(cut) > 0  # the DC ran short on some days
    book, _, _ = _dc_book(t)
    pack = t["items"].set_index("sku")["store_pack_size"]
    for r in cut.drop_duplicates(["sku", "ship_date"]).itertuples():
        # it shipped all it could: less than a store pack is left
        assert book.loc[r.ship_date, r.sku] < pack[r.sku]
    # fair shares: on a day it cut, no store got more than a pack above its share of the requests
    day = cut[["sku", "ship_date"]].drop_duplicates().merge(tr, on=["sku", "ship_date"])
    ratio = day.groupby(["sku", "ship_date"])["qty"].transform("sum") / day.groupby(["sku", "ship_date"])[
        "requested_qty"
    ].transform("sum")
    assert (day["qty"] <= day["requested_qty"] * ratio + day["sku"].map(pack) + 1e-9).all()
    # the stores buy nothing from the suppliers: the DC does
    assert set(t["purchase_orders"]["location_id"]) == {"DC01"}
    # each received transfer is the store's goods receipt, line for line; those on the truck are not
    got = tr[tr["received_date"].notna()]
    rec = t["movements"][(t["movements"]["kind"] == "receipt") & t["movements"]["ref"].str.startswith("TO")]
    first = rec.drop_duplicates("ref").set_index("ref")  # a receipt keyed twice is an injected anomaly
    assert set(first.index) == set(got["transfer_id"])
    g = got.set_index("transfer_id")
    assert (first.loc[g.index, "qty"] == g["qty"]).all()
    assert (first.loc[g.index, "ts"].dt.normalize() == g["received_date"]).all()


def test_the_default_demo_has_no_network(tiny_demo):
    t = tiny_demo.tables
    assert len(t["transfers"]) == 0 and len(t["sourcing"]) == 0
    assert "DC01" not in set(t["stock"]["location_id"]) and "store_pack_size" not in t["items"]


def test_the_demo_mapping_reads_transfers_and_counts_those_on_the_truck_as_open_orders(net, tmp_path):
    erp, truth = f"sqlite:///{tmp_path / 'erp.db'}", f"sqlite:///{tmp_path / 'truth.db'}"
    write(net, erp, truth)
    conn = SqlConnector(erp, load_mapping(None))
    tr = net.tables["transfers"]
    # a run date with transfers on the truck: shipped by then, received after
    ds = (
        tr.loc[tr["received_date"] > tr["ship_date"] + pd.Timedelta(days=1), "ship_date"].iloc[-5]
        + pd.Timedelta(days=1)
    ).date()
    on_truck = tr[(tr["ship_date"] <= pd.Timestamp(ds)) & (tr["received_date"] > pd.Timestamp(ds))]
    assert len(on_truck) > 0
    oo = conform("open_orders", conn.extract("open_orders", ds, None), "x")
    assert set(on_truck["transfer_id"]) <= set(oo["po_id"])
    assert (
        oo.set_index("po_id").loc[on_truck["transfer_id"], "location_id"].tolist() == on_truck["location_id"].tolist()
    )
    got = conn.extract("transfers", ds, 365)
    assert got["ship_date"].max() <= pd.Timestamp(ds)
    # not received yet as of ds, whatever the ERP knows today
    assert got.set_index("transfer_id").loc[on_truck["transfer_id"], "received_date"].isna().all()
