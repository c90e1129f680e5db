"""A realistic demo ERP, deterministic for a seed.

Demand has weekly and yearly seasonality, trend, promotions with a price effect, intermittent
slow movers and new items. A day-by-day simulation replenishes each sku x store with the ERP's
own static min/max policy (the baseline Stockwise must beat) through suppliers with variable lead
times, so stockouts happen and censor sales. Book stock (what the ERP believes) and physical
stock drift apart through injected, labelled anomalies: unrecorded shrinkage, phantom stock,
fat-finger adjustments (x10, x100), adjustments keyed slightly off, and duplicate receipts.

With `network`, the warehouse DC01 holds stock through the whole history: the stores request
transfers from it on their truck days (store packs, the ERP's min/max on a one-day transfer),
the DC ships what it has (fair shares when short, so its shortages reach the shelves) and buys
from the suppliers with its own min/max. The ERP then also holds the transfers (requested,
shipped, received) and DC01's daily stock.

The true demand and the anomaly labels go to a separate truth store that the pipeline never reads.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import date, timedelta

import numpy as np
import pandas as pd

from stockwise.erp.schema import WEEKDAYS

log = logging.getLogger(__name__)

CATEGORIES = {
    # category: (weekly profile mon..sun, yearly amplitude, yearly peak day-of-year)
    "grocery": ((0.9, 0.85, 0.9, 0.95, 1.1, 1.35, 0.95), 0.08, 350),
    "beverages": ((0.85, 0.85, 0.9, 0.95, 1.15, 1.35, 0.95), 0.35, 200),
    "household": ((0.95, 0.95, 0.95, 1.0, 1.05, 1.15, 0.95), 0.05, 90),
    "personal_care": ((1.0, 1.0, 1.0, 1.0, 1.0, 1.05, 0.95), 0.05, 330),
    "frozen": ((0.9, 0.9, 0.9, 0.95, 1.1, 1.3, 0.95), 0.25, 190),
    "garden": ((0.8, 0.8, 0.85, 0.9, 1.05, 1.5, 1.1), 0.6, 140),
    "toys": ((0.85, 0.85, 0.85, 0.9, 1.1, 1.4, 1.05), 0.5, 355),
    "hardware": ((0.95, 0.95, 0.95, 1.0, 1.05, 1.15, 0.95), 0.1, 120),
}
PACK_SIZES = np.array([1, 4, 6, 12, 24])
REGIONS = ("north", "south", "east", "west")
DC = "DC01"  # the warehouse


@dataclass(frozen=True)
class DemoConfig:
    skus: int = 200
    stores: int = 5
    days: int = 730
    end: date = date(2025, 12, 31)
    seed: int = 7
    anomaly_rate: float = 0.002  # share of sku x store x day rows that carry an injected anomaly
    # the stores are served by the warehouse DC01 over the whole history (transfers on truck
    # days, DC stock, the DC's purchase orders) and a sourcing table says so: see `_DC`
    network: bool = False


@dataclass
class DemoERP:
    """Everything the demo writes: ERP tables and the truth store (never read by the pipeline)."""

    tables: dict[str, pd.DataFrame]
    truth: dict[str, pd.DataFrame]
    config: DemoConfig


def _weekday_codes(rng: np.random.Generator, n: int) -> list[str]:
    options = [("mon", "thu"), ("tue", "fri"), ("mon", "wed", "fri"), ("wed",), ("mon",), ("tue", "thu")]
    return [",".join(options[i]) for i in rng.integers(0, len(options), n)]


def generate(cfg: DemoConfig) -> DemoERP:
    """The demo ERP for a config, in named steps that draw from one seeded stream in a fixed
    order (so a seed always gives the same ERP): master data, true demand, the ERP's own
    replenishment day by day (with the injected anomalies), then the tables."""
    rng = np.random.default_rng(cfg.seed)
    dates = pd.date_range(cfg.end - timedelta(days=cfg.days - 1), cfg.end, freq="D")
    master = _master_data(rng, cfg)
    demand = _true_demand(rng, cfg, master, dates)
    sim = _replenish(rng, cfg, master, demand, dates)
    tables, truth = _tables(cfg, master, demand, sim, dates)
    _network(cfg, tables)
    log.info(
        "demo ERP: %d items x %d stores x %d days, %d sales rows, %d movements, %d POs, %d anomalies",
        cfg.skus,
        cfg.stores,
        cfg.days,
        len(tables["sales"]),
        len(tables["movements"]),
        len(tables["purchase_orders"]),
        len(truth["anomalies"]),
    )
    return DemoERP(tables, truth, cfg)


@dataclass
class _Master:
    suppliers: pd.DataFrame
    items: pd.DataFrame
    locations: pd.DataFrame
    kind: np.ndarray  # fast / medium / slow per item
    item_cat: np.ndarray


SUPPLIER_NAMES = (
    "Northfield Foods",
    "Bright Home Supplies",
    "Cedar Beverages",
    "Harbor Snacks",
    "Valley Dairy",
    "Summit Household",
    "Riverbend Produce",
    "Oakline Personal Care",
)


def _supplier_name(i: int) -> str:
    base = SUPPLIER_NAMES[i % len(SUPPLIER_NAMES)]
    return base if i < len(SUPPLIER_NAMES) else f"{base} {i // len(SUPPLIER_NAMES) + 1}"


def _master_data(rng: np.random.Generator, cfg: DemoConfig) -> _Master:
    n_items, n_stores = cfg.skus, cfg.stores
    n_sup = max(3, n_items // 25)
    suppliers = pd.DataFrame(
        {
            "supplier_id": [f"SUP{i:03d}" for i in range(n_sup)],
            "lead_time_days_mean": rng.choice([3, 4, 5, 7, 10, 14], n_sup).astype(float),
            "order_weekdays": _weekday_codes(rng, n_sup),
            "min_order_value": rng.choice([0.0, 100.0, 250.0, 500.0], n_sup),
        }
    )
    suppliers["lead_time_days_std"] = np.round(suppliers["lead_time_days_mean"] * rng.uniform(0.1, 0.35, n_sup), 2)
    suppliers["name"] = [_supplier_name(i) for i in range(n_sup)]  # no draw: the rest stays as it was
    suppliers = suppliers[
        ["supplier_id", "name", "lead_time_days_mean", "lead_time_days_std", "order_weekdays", "min_order_value"]
    ]

    cats = np.array(list(CATEGORIES))
    item_cat = cats[rng.integers(0, len(cats), n_items)]
    kind = rng.choice(["fast", "medium", "slow"], n_items, p=[0.25, 0.45, 0.30])
    unit_cost = np.round(np.exp(rng.normal(1.3, 0.8, n_items)), 2) + 0.25
    pack = rng.choice(PACK_SIZES, n_items, p=[0.3, 0.15, 0.2, 0.25, 0.1])
    pack = np.where(kind == "slow", np.minimum(pack, 4), pack)
    items = pd.DataFrame(
        {
            "sku": [f"SKU{i:05d}" for i in range(n_items)],
            "name": [f"{c.replace('_', ' ').title()} item {i}" for i, c in enumerate(item_cat)],
            "category": item_cat,
            "unit_cost": unit_cost,
            "unit_price": np.round(unit_cost * rng.uniform(1.25, 1.9, n_items), 2),
            "pack_size": pack.astype(int),
            "moq": (pack * rng.choice([1, 1, 1, 2, 3], n_items)).astype(int),
            "supplier_id": suppliers["supplier_id"].to_numpy()[rng.integers(0, n_sup, n_items)],
            "shelf_facings": rng.integers(2, 7, n_items),
        }
    )
    locations = pd.DataFrame(
        {
            "location_id": [f"ST{j:02d}" for j in range(n_stores)] + ["DC01"],
            "type": ["store"] * n_stores + ["warehouse"],
            "region": [REGIONS[j % len(REGIONS)] for j in range(n_stores)] + ["central"],
        }
    )
    return _Master(suppliers, items, locations, kind, item_cat)


@dataclass
class _Demand:
    """True demand [series, day]; series = item * n_stores + store."""

    it: np.ndarray  # the item of each series
    st: np.ndarray  # the store of each series
    launch: np.ndarray  # launch day per item (0: on sale from the start)
    discount: np.ndarray  # promotion price cut [items, days]
    rate: np.ndarray
    demand: np.ndarray


def _true_demand(rng: np.random.Generator, cfg: DemoConfig, m: _Master, dates: pd.DatetimeIndex) -> _Demand:
    n_items, n_stores, n_days = cfg.skus, cfg.stores, cfg.days
    kind, item_cat = m.kind, m.item_cat
    it = np.repeat(np.arange(n_items), n_stores)
    st = np.tile(np.arange(n_stores), n_items)
    base = np.where(
        kind == "fast",
        rng.lognormal(2.3, 0.5, n_items),
        np.where(kind == "medium", rng.lognormal(0.9, 0.5, n_items), rng.lognormal(-1.6, 0.6, n_items)),
    )
    store_mult = rng.uniform(0.6, 1.4, n_stores)
    dow = dates.dayofweek.to_numpy()
    doy = dates.dayofyear.to_numpy()
    weekly = np.array([CATEGORIES[c][0] for c in item_cat])[:, dow]  # [items, days]
    amp = np.array([CATEGORIES[c][1] for c in item_cat]) * rng.uniform(0.6, 1.2, n_items)
    peak = np.array([CATEGORIES[c][2] for c in item_cat])
    yearly = 1 + amp[:, None] * np.cos(2 * np.pi * (doy[None, :] - peak[:, None]) / 365.25)
    trend = np.exp(rng.normal(0.05, 0.15, n_items)[:, None] * np.arange(n_days)[None, :] / 365.25)
    launch = np.zeros(n_items, dtype=int)
    new = rng.random(n_items) < 0.08
    launch[new] = rng.integers(n_days // 3, n_days - 60, new.sum())
    launched = np.arange(n_days)[None, :] >= launch[:, None]

    # promotions: chain-wide per item, 7-14 days, a price cut with an elastic lift
    discount = np.zeros((n_items, n_days))
    for i in np.flatnonzero(kind != "slow"):
        for _ in range(rng.poisson(n_days / 365.25 * 4)):
            d0 = rng.integers(0, n_days - 7)
            discount[i, d0 : d0 + rng.integers(7, 15)] = rng.choice([0.1, 0.15, 0.2, 0.3])
    elasticity = rng.uniform(1.5, 3.5, n_items)[:, None]
    lift = (1 - discount) ** (-elasticity)
    item_rate = base[:, None] * weekly * yearly * trend * lift * launched
    rate = item_rate[it] * store_mult[st][:, None]
    shape = np.where(kind[it] == "slow", 0.4, np.where(kind[it] == "medium", 3.0, 8.0))[:, None]
    demand = rng.poisson(rate * rng.gamma(shape, 1 / shape, rate.shape)).astype(float)
    return _Demand(it, st, launch, discount, rate, demand)


class _Moves:
    """Movements recorded during the simulation, as frames keyed by series."""

    def __init__(self, dates: pd.DatetimeIndex) -> None:
        self.dates = dates
        self.frames: list[pd.DataFrame] = []

    def record(
        self, kind: str, day: int, idx: np.ndarray, qty: np.ndarray, hour: int, ref: list[str] | None = None
    ) -> None:
        if len(idx):
            self.frames.append(
                pd.DataFrame(
                    {
                        "series": idx,
                        "ts": self.dates[day] + pd.Timedelta(hours=hour),
                        "kind": kind,
                        "qty": qty.astype(float),
                        "ref": ref if ref is not None else [f"{kind.upper()}-{day}"] * len(idx),
                    }
                )
            )


@dataclass
class _Sim:
    """The ERP's replenishment, day by day: what sold, what the book said, what was ordered."""

    sales: np.ndarray
    book_eod: np.ndarray
    physical: np.ndarray
    book: np.ndarray
    pos: list  # (series, day, qty, arrival day) per reorder run
    moves: _Moves
    labels: list[dict]
    mn: np.ndarray
    mx: np.ndarray
    est: np.ndarray
    master_lt: np.ndarray
    actual_lt_mean: np.ndarray
    actual_lt_std: np.ndarray
    dc: _DC | None = None  # a networked demo's DC01


@dataclass
class _Policy:
    """The ERP's static min/max per series and the suppliers behind it."""

    lt_mean: np.ndarray  # the lead times suppliers really deliver in
    lt_std: np.ndarray
    order_days: np.ndarray  # [series, weekday]
    pack: np.ndarray
    moq: np.ndarray
    est: np.ndarray  # the planner's stale daily estimate
    master_lt: np.ndarray  # the lead time the supplier master promises
    mn: np.ndarray
    mx: np.ndarray
    actual_lt_mean: np.ndarray  # per supplier
    actual_lt_std: np.ndarray


def _erp_policy(rng: np.random.Generator, cfg: DemoConfig, m: _Master, d: _Demand) -> _Policy:
    suppliers, items, it = m.suppliers, m.items, d.it
    n_sup, n_series = len(suppliers), len(it)
    # suppliers do not always deliver as their master data says: some are slower or less steady
    # (own random stream, so the rest of the demo does not change with it)
    rng_lt = np.random.default_rng(cfg.seed + 1)
    actual_lt_mean = suppliers["lead_time_days_mean"].to_numpy() * rng_lt.choice([1.0, 1.0, 1.0, 1.3, 1.6], n_sup)
    actual_lt_std = suppliers["lead_time_days_std"].to_numpy() * rng_lt.choice([1.0, 1.0, 1.5, 2.0], n_sup)
    sup_idx = pd.Index(suppliers["supplier_id"]).get_indexer(items["supplier_id"])[it]
    order_days = np.zeros((n_series, 7), dtype=bool)
    for s_i, codes in enumerate(suppliers["order_weekdays"]):
        cols = [WEEKDAYS.index(c) for c in codes.split(",")]
        order_days[np.ix_(sup_idx == s_i, cols)] = True
    pack = items["pack_size"].to_numpy()[it].astype(float)
    moq = items["moq"].to_numpy()[it].astype(float)
    # the planner's static estimate: last year's average, off by up to +/-30%, never updated,
    # and the lead time the supplier master promises
    est = d.rate.mean(axis=1) * rng.uniform(0.7, 1.3, n_series)
    master_lt = suppliers["lead_time_days_mean"].to_numpy()[sup_idx]
    mn = np.ceil(est * (master_lt + 5) * 1.3)
    mx = mn + np.maximum(np.ceil(est * 14), pack)
    return _Policy(
        actual_lt_mean[sup_idx],
        actual_lt_std[sup_idx],
        order_days,
        pack,
        moq,
        est,
        master_lt,
        mn,
        mx,
        actual_lt_mean,
        actual_lt_std,
    )


TRUCK_DAYS = ("mon,wed,fri", "tue,thu,sat")  # stores alternate, so the DC's work is spread over the week
TRANSFER_LEAD = (1.0, 0.3)  # days from the DC's shipment to the store's receipt: mean, spread


def _store_pack(case: np.ndarray) -> np.ndarray:
    """The pack a DC ships to stores in: a quarter of the supplier's case from cases of 12 up,
    else single units."""
    return np.where(case >= 12, case // 4, 1).astype(int)


def _truck_days(n_stores: int) -> list[str]:
    return [TRUCK_DAYS[i % 2] for i in range(n_stores)]


def _store_policy(pol: _Policy, cfg: DemoConfig, d: _Demand) -> _Policy:
    """The stores' side of a networked ERP: min/max on the transfer lead time, reviewed on the
    store's truck days, in store packs (no MOQ); the same stale estimate as the direct ERP."""
    order_days = np.zeros((len(d.it), 7), dtype=bool)
    for j, codes in enumerate(_truck_days(cfg.stores)):
        order_days[np.ix_(d.st == j, [WEEKDAYS.index(c) for c in codes.split(",")])] = True
    pack = _store_pack(pol.pack.astype(int)).astype(float)
    lt = np.full(len(d.it), TRANSFER_LEAD[0])
    mn = np.ceil(pol.est * (lt + 5) * 1.3)
    mx = mn + np.maximum(np.ceil(pol.est * 7), pack)
    return replace(
        pol,
        lt_mean=lt,
        lt_std=np.full(len(d.it), TRANSFER_LEAD[1]),
        order_days=order_days,
        pack=pack,
        moq=np.zeros(len(d.it)),
        master_lt=lt,
        mn=mn,
        mx=mx,
    )


class _DC:
    """DC01 of a networked demo, per item: its stock, the purchase orders it places with the
    item's supplier (its own static min/max on the stores' summed estimate) and the transfers it
    ships. Series index of an item at the DC: n_series + item."""

    def __init__(self, cfg: DemoConfig, d: _Demand, pol: _Policy, horizon: int) -> None:
        n_items = cfg.skus
        self.n_series, self.horizon = len(d.it), horizon
        first = np.arange(n_items) * cfg.stores  # a store series per item: its supplier's terms
        self.lt_mean, self.lt_std = pol.lt_mean[first], pol.lt_std[first]
        self.order_days, self.case, self.moq = pol.order_days[first], pol.pack[first], pol.moq[first]
        self.master_lt = pol.master_lt[first]
        self.est = np.bincount(d.it, weights=pol.est, minlength=n_items)
        self.mn = np.ceil(self.est * (self.master_lt + 5) * 1.3)
        self.mx = self.mn + np.maximum(np.ceil(self.est * 14), self.case)
        self.launch = d.launch
        self.phys = np.where(self.launch == 0, self.mx, 0.0)
        self.on_order = np.zeros(n_items)
        self.arriving = np.zeros((n_items, horizon))
        self.eod = np.full((n_items, cfg.days), np.nan)
        self.transfers: list[tuple[np.ndarray, int, np.ndarray, np.ndarray, np.ndarray]] = []
        self.rng = np.random.default_rng(cfg.seed + 3)  # its own stream: trucks and suppliers

    def receive(self, t: int, moves: _Moves) -> None:
        """The suppliers' deliveries due today land first; a new item's first stock on its launch day."""
        first = np.flatnonzero(self.launch == t) if t > 0 else np.array([], dtype=int)
        self.phys[first] += self.mx[first]
        moves.record("receipt", t, self.n_series + first, self.mx[first], 7, [f"LAUNCH-DC-{t}"] * len(first))
        arr = self.arriving[:, t]
        self.phys += arr
        self.on_order -= arr

    def ship(
        self, t: int, series: np.ndarray, item: np.ndarray, req: np.ndarray, pack: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Today's store requests: what the DC has, in fair shares of store packs when short.
        Returns (shipped, arrival day) per request."""
        n = len(self.phys)
        asked = np.bincount(item, weights=req, minlength=n)
        share = np.minimum(1.0, self.phys / np.maximum(asked, 1e-9))
        packs = req * share[item] / pack
        shipped = np.floor(packs) * pack
        # what the floor left at the DC goes a pack at a time to the largest remainders
        left = self.phys - np.bincount(item, weights=shipped, minlength=n)
        order = np.lexsort((-(packs - np.floor(packs)), item))
        rank = np.empty(len(item), dtype=int)
        rank[order] = np.arange(len(item)) - np.searchsorted(item[order], item[order])
        extra = (share[item] < 1) & (rank < np.floor(left[item] / pack + 1e-9))
        shipped += extra * pack
        self.phys -= np.bincount(item, weights=shipped, minlength=n)
        arrival = t + np.maximum(1, np.round(self.rng.normal(*TRANSFER_LEAD, len(series)))).astype(int)
        self.transfers.append((series, t, req, shipped, arrival))
        return shipped, arrival

    def reorder(self, t: int, weekday: int, pos: list) -> None:
        due = np.flatnonzero((self.launch <= t) & self.order_days[:, weekday] & (self.phys + self.on_order <= self.mn))
        if len(due):
            need = self.mx[due] - (self.phys[due] + self.on_order[due])
            qty = np.maximum(np.ceil(need / self.case[due]) * self.case[due], self.moq[due])
            lead = np.round(self.rng.normal(self.lt_mean[due], self.lt_std[due]))
            arrival = t + np.maximum(1, lead).astype(int)
            self.arriving[due, np.minimum(arrival, self.horizon - 1)] += qty
            self.on_order[due] += qty
            pos.append((self.n_series + due, t, qty, arrival))
        self.eod[:, t] = np.where(self.launch <= t, self.phys, np.nan)


def _replenish(rng: np.random.Generator, cfg: DemoConfig, m: _Master, d: _Demand, dates: pd.DatetimeIndex) -> _Sim:
    """The ERP's static min/max, run on its book every order day, through suppliers whose lead
    times vary; sales are censored by physical stock; anomalies are injected and labelled."""
    n_days, n_series = cfg.days, len(d.it)
    pol = _erp_policy(rng, cfg, m, d)
    rng_adj = np.random.default_rng(cfg.seed + 2)
    horizon = n_days + 60
    dc = _DC(cfg, d, pol, horizon) if cfg.network else None
    if cfg.network:
        pol = _store_policy(pol, cfg, d)
    arriving = np.zeros((n_series, horizon))
    launch = d.launch[d.it]
    physical = np.where(launch == 0, pol.mx, 0.0)
    book = physical.copy()
    on_order = np.zeros(n_series)
    sales = np.zeros((n_series, n_days))
    book_eod = np.zeros((n_series, n_days))
    pos: list[tuple[np.ndarray, int, np.ndarray, np.ndarray]] = []
    moves = _Moves(dates)
    labels: list[dict] = []
    cycle_count_every = rng.integers(60, 120, n_series)
    dow = dates.dayofweek.to_numpy()

    for t in range(n_days):
        active = launch <= t
        if dc is not None:
            dc.receive(t, moves)
        # a new item's first delivery arrives on launch day
        first = launch == t
        if t > 0 and first.any():
            physical[first] += pol.mx[first]
            book[first] += pol.mx[first]
            moves.record("receipt", t, np.flatnonzero(first), pol.mx[first], 8, [f"LAUNCH-{t}"] * int(first.sum()))
        # receipts (recorded against the PO); on_order falls as they land
        arr = arriving[:, t]
        got = np.flatnonzero(arr > 0)
        physical[got] += arr[got]
        book[got] += arr[got]
        on_order[got] -= arr[got]
        # sales are censored by physical stock
        sold = np.minimum(d.demand[:, t], physical) * active
        physical -= sold
        book -= sold
        sales[:, t] = sold
        _ordinary_business(rng, t, active, sold, physical, book, moves)
        _inject_anomalies(rng, rng_adj, cfg.anomaly_rate, t, active, arr, physical, book, moves, labels)
        # cycle counts: the book is set to what is on the shelf (heals phantom stock); a count that
        # finds the book right leaves no movement
        cc = np.flatnonzero(active & ((t + np.arange(n_series)) % cycle_count_every == 0) & (book != physical))
        moves.record("count", t, cc, physical[cc] - book[cc], 9, [f"CC-{t}"] * len(cc))
        book[cc] = physical[cc]
        # the ERP's reorder run, on the supplier's order days, on its book
        due = np.flatnonzero(active & pol.order_days[:, dow[t]] & (book + on_order <= pol.mn))
        if len(due):
            need = pol.mx[due] - (book[due] + on_order[due])
            qty = np.maximum(np.ceil(need / pol.pack[due]) * pol.pack[due], pol.moq[due])
            if dc is None:  # a purchase order to the supplier
                arrival = t + np.maximum(1, np.round(rng.normal(pol.lt_mean[due], pol.lt_std[due]))).astype(int)
                pos.append((due, t, qty, arrival))
            else:  # a transfer request to the DC: it ships what it has
                qty, arrival = dc.ship(t, due, d.it[due], qty, pol.pack[due])
            arriving[due, np.minimum(arrival, horizon - 1)] += qty
            on_order[due] += qty
        if dc is not None:
            dc.reorder(t, dow[t], pos)
        book_eod[:, t] = np.where(active, book, np.nan)
    return _Sim(
        sales,
        book_eod,
        physical,
        book,
        pos,
        moves,
        labels,
        pol.mn,
        pol.mx,
        pol.est,
        pol.master_lt,
        pol.actual_lt_mean,
        pol.actual_lt_std,
        dc,
    )


def _ordinary_business(
    rng: np.random.Generator,
    t: int,
    active: np.ndarray,
    sold: np.ndarray,
    physical: np.ndarray,
    book: np.ndarray,
    moves: _Moves,
) -> None:
    """Customer returns and recorded damage (shrink movements): the book and the shelf agree."""
    n_series = len(active)
    ret = np.flatnonzero(active & (rng.random(n_series) < 0.004) & (sold > 0))
    physical[ret] += 1
    book[ret] += 1
    moves.record("return", t, ret, np.ones(len(ret)), 15)
    dmg = np.flatnonzero(active & (rng.random(n_series) < 0.003) & (physical >= 1))
    physical[dmg] -= 1
    book[dmg] -= 1
    moves.record("shrink", t, dmg, -np.ones(len(dmg)), 11)


def _inject_anomalies(
    rng: np.random.Generator,
    rng_adj: np.random.Generator,
    p_anom: float,
    t: int,
    active: np.ndarray,
    arr: np.ndarray,
    physical: np.ndarray,
    book: np.ndarray,
    moves: _Moves,
    labels: list[dict],
) -> None:
    """Labelled anomalies of day t: unrecorded shrinkage, phantom stock, fat-finger and slightly
    mis-keyed adjustments, receipts keyed twice. They move the book and the shelf apart."""
    n_series = len(active)
    u = rng.random(n_series)
    kinds = np.select(
        [u < p_anom * 0.4, u < p_anom * 0.65, u < p_anom],
        ["shrinkage", "phantom_stock", "fat_finger"],
        default="",
    )
    kinds[~active] = ""
    for s in np.flatnonzero(kinds == "shrinkage"):
        k = min(float(rng.integers(1, 3)), physical[s])
        if k > 0:
            physical[s] -= k  # unrecorded: the book does not move
            labels.append({"kind": "shrinkage", "day": t, "series": s, "magnitude": k})
    for s in np.flatnonzero(kinds == "phantom_stock"):
        if physical[s] > 0:
            labels.append({"kind": "phantom_stock", "day": t, "series": s, "magnitude": physical[s]})
            physical[s] = 0.0  # the shelf is empty; the ERP still shows stock
    for s in np.flatnonzero(kinds == "fat_finger"):
        true_q = float(rng.choice([-2, -1, 1, 2, 3]))
        wrong = true_q * float(rng.choice([10, 100]))
        kind_ = "fat_finger"
        if rng_adj.random() < 0.3:  # a hard case: keyed only slightly off (one to three units)
            wrong = true_q + float(rng_adj.choice([-3, -2, -1, 1, 2, 3]))
            kind_ = "adjustment_error"
        physical[s] = max(physical[s] + true_q, 0.0)
        book[s] += wrong
        moves.record("adjustment", t, np.array([s]), np.array([wrong]), 10, [f"ADJ-{t}-{s}"])
        labels.append({"kind": kind_, "day": t, "series": s, "magnitude": wrong - true_q, "ref": f"ADJ-{t}-{s}"})
    # a receipt keyed in twice: only possible on a day a PO line lands
    for s in np.flatnonzero(active & (arr > 0) & (kinds == "") & (rng.random(n_series) < p_anom * 4)):
        book[s] += arr[s]  # the same PO line keyed in twice
        labels.append({"kind": "duplicate_receipt", "day": t, "series": s, "magnitude": arr[s], "ref": f"DUP-{t}-{s}"})


def _tables(
    cfg: DemoConfig, m: _Master, d: _Demand, sim: _Sim, dates: pd.DatetimeIndex
) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """The ERP's tables and the truth store from the simulation."""
    n_days, it, st = cfg.days, d.it, d.st
    items, locations = m.items, m.locations
    n_series = len(it)
    sku = items["sku"].to_numpy()[it]
    loc = locations["location_id"].to_numpy()[st]
    grid = _daily_grid(m, d, sim, dates, sku, loc)
    sales_df = grid.loc[grid["qty"] > 0, ["date", "sku", "location_id", "qty", "price", "on_promo"]]
    stock_df = grid.loc[grid["on_hand"].notna(), ["date", "sku", "location_id", "on_hand"]]
    minmax = pd.DataFrame(
        {"sku": sku, "location_id": loc, "min_qty": sim.mn, "max_qty": sim.mx, "est_daily_demand": sim.est}
    )
    master_lt = sim.master_lt
    if sim.dc is not None:  # DC01's items follow the stores' series (index n_series + item)
        dc = sim.dc
        sku = np.concatenate([sku, items["sku"].to_numpy()])
        loc = np.concatenate([loc, np.full(len(items), DC)])
        master_lt = np.concatenate([master_lt, dc.master_lt])
        dc_stock = pd.DataFrame(
            {
                "date": np.tile(dates, len(items)),
                "sku": np.repeat(items["sku"].to_numpy(), n_days),
                "location_id": DC,
                "on_hand": dc.eod.ravel(),
            }
        ).dropna(subset=["on_hand"])
        stock_df = pd.concat([stock_df, dc_stock], ignore_index=True)
        dc_rules = {
            "sku": items["sku"],
            "location_id": DC,
            "min_qty": dc.mn,
            "max_qty": dc.mx,
            "est_daily_demand": dc.est,
        }
        minmax = pd.concat([minmax, pd.DataFrame(dc_rules)], ignore_index=True)
    purchase_orders, po_series, received = _purchase_orders(sim, master_lt, dates, n_days, sku, loc)
    transfers, tr_series = _transfers(sim, dates, n_days, sku, loc)
    inbound = _inbound(purchase_orders, po_series, received, transfers, tr_series, dates)
    movements = _movements(sim, grid, inbound, transfers, tr_series, n_series, d.it, dates, sku, loc)
    anomalies = _anomaly_labels(sim.labels, movements, dates, sku, loc)
    truth_demand = grid[["date", "sku", "location_id", "true_demand"]].copy()
    truth_demand["lost_sales"] = grid["true_demand"] - grid["qty"]
    tables = {
        "items": items,
        "locations": locations,
        "suppliers": m.suppliers,
        "sales": sales_df.reset_index(drop=True),
        "stock": stock_df.reset_index(drop=True),
        "movements": movements,
        "purchase_orders": purchase_orders,
        "transfers": transfers,  # DC01 -> store (empty unless the demo is networked)
        "reorder_rules": minmax,  # the ERP's static min/max (the baseline policy)
        "planner_overrides": _overrides(cfg, items, locations),
    }
    truth = {
        "demand": truth_demand,
        "anomalies": anomalies,
        "item_profile": pd.DataFrame({"sku": items["sku"], "kind": m.kind, "launch_date": dates[d.launch]}),
        # what is really on the shelf at the end (the book is in `stock`): shelf photos show this
        "physical_on_hand": pd.DataFrame(
            {
                "date": dates[-1],
                "sku": items["sku"].to_numpy()[it],
                "location_id": locations["location_id"].to_numpy()[st],
                "on_hand": sim.physical,
                "book": sim.book,
            }
        ),
        "supplier_profile": pd.DataFrame(
            {
                "supplier_id": m.suppliers["supplier_id"],
                "actual_lead_time_mean": sim.actual_lt_mean,
                "actual_lead_time_std": sim.actual_lt_std,
            }
        ),
    }
    return tables, truth


def _daily_grid(
    m: _Master, d: _Demand, sim: _Sim, dates: pd.DatetimeIndex, sku: np.ndarray, loc: np.ndarray
) -> pd.DataFrame:
    """One row per series x day: sales, price, promotion, end-of-day book and true demand."""
    n_series, n_days = sim.sales.shape
    grid = pd.DataFrame({"series": np.repeat(np.arange(n_series), n_days), "day": np.tile(np.arange(n_days), n_series)})
    grid["date"] = dates[grid["day"].to_numpy()]
    grid["sku"] = sku[grid["series"].to_numpy()]
    grid["location_id"] = loc[grid["series"].to_numpy()]
    disc_s = d.discount[d.it]
    price = m.items["unit_price"].to_numpy()[d.it][:, None] * (1 - disc_s)
    grid["qty"] = sim.sales.ravel()
    grid["price"] = np.round(price.ravel(), 2)
    grid["on_promo"] = disc_s.ravel() > 0
    grid["on_hand"] = sim.book_eod.ravel()
    grid["true_demand"] = d.demand.ravel()
    return grid


def _purchase_orders(
    sim: _Sim, master_lt: np.ndarray, dates: pd.DatetimeIndex, n_days: int, sku: np.ndarray, loc: np.ndarray
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    pos = sim.pos
    po_series = np.concatenate([p[0] for p in pos]) if pos else np.array([], dtype=int)
    po_day = np.concatenate([np.full(len(p[0]), p[1]) for p in pos]) if pos else np.array([], dtype=int)
    po_qty = np.concatenate([p[2] for p in pos]) if pos else np.array([])
    po_arr = np.concatenate([p[3] for p in pos]) if pos else np.array([], dtype=int)
    po_ids = np.array([f"PO{i:07d}" for i in range(len(po_series))])
    exp_days = po_day + np.round(master_lt[po_series]).astype(int)  # what the supplier promised
    received = po_arr < n_days
    purchase_orders = pd.DataFrame(
        {
            "po_id": po_ids,
            "sku": sku[po_series],
            "location_id": loc[po_series],
            "qty": po_qty,
            "order_date": dates[0] + pd.to_timedelta(po_day, unit="D"),
            "expected_date": dates[0] + pd.to_timedelta(exp_days, unit="D"),
            "received_date": (dates[0] + pd.to_timedelta(np.where(received, po_arr, 0), unit="D")).where(received),
        }
    )
    return purchase_orders, po_series, received


TRANSFER_COLUMNS = [
    "transfer_id",
    "sku",
    "source_id",
    "location_id",
    "requested_qty",
    "qty",
    "ship_date",
    "expected_date",
    "received_date",
]


def _transfers(
    sim: _Sim, dates: pd.DatetimeIndex, n_days: int, sku: np.ndarray, loc: np.ndarray
) -> tuple[pd.DataFrame, np.ndarray]:
    """DC01's transfers to the stores, one line per store request it shipped something of:
    asked, shipped, when it shipped, when the sourcing table said it would land and when it did
    (none yet for those still on the truck). Requests it shipped nothing of leave no line."""
    tr = sim.dc.transfers if sim.dc is not None else []
    cat = {k: np.concatenate([x[k] for x in tr]) if tr else np.array([]) for k in (0, 2, 3, 4)}
    day = np.concatenate([np.full(len(x[0]), x[1]) for x in tr]) if tr else np.array([], dtype=int)
    out = cat[3] > 0
    series, day, req, qty, arr = cat[0][out].astype(int), day[out], cat[2][out], cat[3][out], cat[4][out].astype(int)
    received = arr < n_days
    df = pd.DataFrame(
        {
            "transfer_id": np.array([f"TO{i:07d}" for i in range(len(series))], dtype=object),
            "sku": sku[series],
            "source_id": DC,
            "location_id": loc[series],
            "requested_qty": req,
            "qty": qty,
            "ship_date": dates[0] + pd.to_timedelta(day, unit="D"),
            "expected_date": dates[0] + pd.to_timedelta(day + round(TRANSFER_LEAD[0]), unit="D"),
            "received_date": (dates[0] + pd.to_timedelta(np.where(received, arr, 0), unit="D")).where(received),
        }
    )
    return df[TRANSFER_COLUMNS], series


def _inbound(
    purchase_orders: pd.DataFrame,
    po_series: np.ndarray,
    received: np.ndarray,
    transfers: pd.DataFrame,
    tr_series: np.ndarray,
    dates: pd.DatetimeIndex,
) -> pd.DataFrame:
    """Every line a location received (PO lines and transfers), as the goods receipts it books."""
    rec = purchase_orders[received]
    got = transfers["received_date"].notna().to_numpy()
    return pd.DataFrame(
        {
            "series": np.concatenate([po_series[received], tr_series[got]]),
            "date": pd.concat([rec["received_date"], transfers.loc[got, "received_date"]], ignore_index=True),
            "ref": np.concatenate([rec["po_id"].to_numpy(), transfers.loc[got, "transfer_id"].to_numpy()]),
            "qty": np.concatenate([rec["qty"].to_numpy(), transfers.loc[got, "qty"].to_numpy()]),
        }
    )


def _movements(
    sim: _Sim,
    grid: pd.DataFrame,
    inbound: pd.DataFrame,
    transfers: pd.DataFrame,
    tr_series: np.ndarray,
    n_series: int,
    item: np.ndarray,
    dates: pd.DatetimeIndex,
    sku: np.ndarray,
    loc: np.ndarray,
) -> pd.DataFrame:
    """Every movement the ERP booked: receipts against POs and transfers (and those keyed twice),
    the DC's transfers out, sales, and what the simulation recorded (returns, shrink,
    adjustments, counts, launches)."""
    moves = sim.moves.frames
    moves.append(
        pd.DataFrame(
            {
                "series": inbound["series"].to_numpy(),
                "ts": inbound["date"].to_numpy() + np.timedelta64(8, "h"),
                "kind": "receipt",
                "qty": inbound["qty"].to_numpy(),
                "ref": inbound["ref"].to_numpy(),
            }
        )
    )
    if len(transfers):  # the DC books each shipment out of its stock the evening it leaves
        moves.append(
            pd.DataFrame(
                {
                    "series": n_series + item[tr_series],
                    "ts": transfers["ship_date"].to_numpy() + np.timedelta64(18, "h"),
                    "kind": "transfer",
                    "qty": -transfers["qty"].to_numpy(),
                    "ref": transfers["transfer_id"].to_numpy(),
                }
            )
        )
    # duplicate receipts repeat the line received that day
    dup_labels = [lab for lab in sim.labels if lab["kind"] == "duplicate_receipt"]
    if dup_labels:
        key = pd.DataFrame(
            {
                "series": inbound["series"].to_numpy(),
                "day": (inbound["date"] - dates[0]).dt.days.to_numpy(),
                "po_id": inbound["ref"].to_numpy(),
                "qty": inbound["qty"].to_numpy(),
            }
        )
        for lab in dup_labels:
            hit = key[(key["series"] == lab["series"]) & (key["day"] == lab["day"])].iloc[0]
            lab["ref"] = hit["po_id"]
            moves.append(
                pd.DataFrame(
                    {
                        "series": [lab["series"]],
                        "ts": [dates[lab["day"]] + pd.Timedelta(hours=8, minutes=30)],
                        "kind": ["receipt"],
                        "qty": [hit["qty"]],
                        "ref": [hit["po_id"]],
                    }
                )
            )
    sale_rows = grid.loc[grid["qty"] > 0]
    moves.append(
        pd.DataFrame(
            {
                "series": sale_rows["series"].to_numpy(),
                "ts": sale_rows["date"].to_numpy() + np.timedelta64(20, "h"),
                "kind": "sale",
                "qty": -sale_rows["qty"].to_numpy(),
                "ref": "POS",
            }
        )
    )
    mv = pd.concat(moves, ignore_index=True).sort_values(["ts", "series", "kind"], kind="stable").reset_index(drop=True)
    mv["movement_id"] = [f"MV{i:09d}" for i in range(len(mv))]
    mv["sku"] = sku[mv["series"].to_numpy()]
    mv["location_id"] = loc[mv["series"].to_numpy()]
    return mv[["movement_id", "ts", "sku", "location_id", "kind", "qty", "ref"]]


def _anomaly_labels(
    labels: list[dict], movements: pd.DataFrame, dates: pd.DatetimeIndex, sku: np.ndarray, loc: np.ndarray
) -> pd.DataFrame:
    """The truth store's labels, each tied to the movement that carries it (when one does)."""
    lab = pd.DataFrame(labels, columns=["kind", "day", "series", "magnitude", "ref"])
    anomalies = pd.DataFrame(
        {
            "anomaly_id": [f"AN{i:05d}" for i in range(len(lab))],
            "kind": lab["kind"],
            "date": dates[0] + pd.to_timedelta(lab["day"].astype(int), unit="D"),
            "sku": sku[lab["series"].astype(int).to_numpy()] if len(lab) else [],
            "location_id": loc[lab["series"].astype(int).to_numpy()] if len(lab) else [],
            "magnitude": lab["magnitude"].astype(float),
            "ref": lab["ref"],
        }
    )
    if len(anomalies):
        refs = movements[movements["kind"].isin(["adjustment", "receipt", "count"])]
        last_mv = refs.drop_duplicates(["ref", "sku", "location_id"], keep="last").set_index(
            ["ref", "sku", "location_id"]
        )["movement_id"]
        anomalies["movement_id"] = [
            last_mv.get((r, s, lc)) if isinstance(r, str) else None
            for r, s, lc in zip(anomalies["ref"], anomalies["sku"], anomalies["location_id"], strict=True)
        ]
    return anomalies


def _network(cfg: DemoConfig, tables: dict[str, pd.DataFrame]) -> None:
    """The sourcing table (empty unless `cfg.network`: then every store is served by DC01 on
    its truck days) and the items' store packs. No draw from the seeded stream."""
    stores = tables["locations"].query("type == 'store'")["location_id"].tolist()
    cols = ["location_id", "source_id", "lead_time_days_mean", "lead_time_days_std", "ship_weekdays"]
    if not cfg.network:
        tables["sourcing"] = pd.DataFrame(columns=cols)
        return
    tables["sourcing"] = pd.DataFrame(
        {
            "location_id": stores,
            "source_id": DC,
            "lead_time_days_mean": TRANSFER_LEAD[0],
            "lead_time_days_std": TRANSFER_LEAD[1],
            "ship_weekdays": _truck_days(len(stores)),
        }
    )[cols]
    tables["items"] = tables["items"].assign(store_pack_size=_store_pack(tables["items"]["pack_size"].to_numpy()))


def _overrides(cfg: DemoConfig, items: pd.DataFrame, locations: pd.DataFrame) -> pd.DataFrame:
    """Planner overrides: one fixed quantity, one chain-wide service target, one expired."""
    end = pd.Timestamp(cfg.end)
    skus = items["sku"].tolist()
    return pd.DataFrame(
        {
            "override_id": ["OVR0001", "OVR0002", "OVR0003"],
            "sku": [skus[0], skus[1 % len(skus)], skus[2 % len(skus)]],
            "location_id": [locations["location_id"].iloc[0], None, None],
            "fixed_qty": [float(2 * items["pack_size"].iloc[0]), None, 0.0],
            "service_level": [None, 0.99, None],
            "reason": ["store event: extra display", "key item of the spring campaign", "supplier recall (over)"],
            "author": ["j.doe", "a.planner", "j.doe"],
            "expires": [end + pd.Timedelta(days=14), None, end - pd.Timedelta(days=30)],
        }
    )


def write(demo: DemoERP, erp_url: str, truth_url: str) -> dict[str, int]:
    """Write the ERP tables (replacing them) and the truth store; return row counts."""
    import sqlalchemy as sa

    from stockwise.erp.sql import create_writeback_tables

    counts: dict[str, int] = {}
    erp = sa.create_engine(erp_url)
    with erp.begin() as conn:
        for name, df in demo.tables.items():
            df.to_sql(name, conn, if_exists="replace", index=False, chunksize=50_000)
            counts[name] = len(df)
    create_writeback_tables(erp)
    erp.dispose()
    truth = sa.create_engine(truth_url)
    with truth.begin() as conn:
        for name, df in demo.truth.items():
            df.to_sql(name, conn, if_exists="replace", index=False, chunksize=50_000)
    truth.dispose()
    return counts
