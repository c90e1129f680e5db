"""The `sql` connector (SQLAlchemy): SQLite for the embedded demo, PostgreSQL in production."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from stockwise.erp.mapping import Mapping, apply_columns, load_mapping
from stockwise.erp.schema import (
    CYCLE_COUNT_TASKS,
    EXTRACTS,
    PLANNING_EXCEPTIONS,
    PUBLICATIONS,
    PURCHASE_REQUISITIONS,
    TRANSFER_ORDERS,
    conform,
)
from stockwise.errors import ErpUnavailable, ExtractError

BATCH_ROWS = 250_000  # rows per batch read from the ERP (`SqlConnector.extract_batches`)

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

_meta = sa.MetaData()
requisitions_table = sa.Table(
    PURCHASE_REQUISITIONS,
    _meta,
    sa.Column("plan_id", sa.String(64), primary_key=True),
    sa.Column("sku", sa.String(64), primary_key=True),
    sa.Column("location_id", sa.String(64), primary_key=True),
    sa.Column("supplier_id", sa.String(64)),
    sa.Column("qty", sa.Float, nullable=False),
    sa.Column("need_by", sa.Date),
    sa.Column("reason", sa.Text),
    sa.Column("status", sa.String(16), nullable=False, server_default="proposed"),
    sa.Column("created_ds", sa.Date, nullable=False),
)
# the DC -> store transfers of a network plan, keyed like the requisitions by the receiving store
transfers_table = sa.Table(
    TRANSFER_ORDERS,
    _meta,
    sa.Column("plan_id", sa.String(64), primary_key=True),
    sa.Column("sku", sa.String(64), primary_key=True),
    sa.Column("to_location_id", sa.String(64), primary_key=True),
    sa.Column("from_location_id", sa.String(64), nullable=False),
    sa.Column("qty", sa.Float, nullable=False),
    sa.Column("requested_qty", sa.Float),
    sa.Column("need_by", sa.Date),
    sa.Column("reason", sa.Text),
    sa.Column("status", sa.String(16), nullable=False, server_default="proposed"),
    sa.Column("created_ds", sa.Date, nullable=False),
)
cycle_count_table = sa.Table(
    CYCLE_COUNT_TASKS,
    _meta,
    sa.Column("task_id", sa.String(96), primary_key=True),
    sa.Column("sku", sa.String(64), nullable=False),
    sa.Column("location_id", sa.String(64), nullable=False),
    sa.Column("due", sa.Date),
    sa.Column("priority", sa.Float),
    sa.Column("reason", sa.Text),
    sa.Column("source", sa.String(32)),
    sa.Column("status", sa.String(16), nullable=False, server_default="open"),
    sa.Column("created_ds", sa.Date, nullable=False),
)

# the commit point of a publication: the plan version the ERP holds, written in the same
# transaction as its lines (see stockwise.publish)
publications_table = sa.Table(
    PUBLICATIONS,
    _meta,
    sa.Column("plan_id", sa.String(64), primary_key=True),
    sa.Column("ds", sa.Date, nullable=False),
    sa.Column("version", sa.String(32), nullable=False),
    sa.Column("lines", sa.Integer, nullable=False),
    sa.Column("exceptions", sa.Integer, nullable=False),
    sa.Column("published_at", sa.DateTime, nullable=False),
    sa.Column("published_by", sa.String(200)),
)
exceptions_table = sa.Table(
    PLANNING_EXCEPTIONS,
    _meta,
    sa.Column("plan_id", sa.String(64), primary_key=True),
    sa.Column("sku", sa.String(64), primary_key=True),
    sa.Column("location_id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(32), primary_key=True),
    sa.Column("detail", sa.Text),
    sa.Column("status", sa.String(16), nullable=False, server_default="open"),
    sa.Column("created_ds", sa.Date, nullable=False),
)


def create_writeback_tables(engine: sa.Engine) -> None:
    _meta.create_all(engine, checkfirst=True)


class SqlConnector:
    def __init__(self, url: str, mapping: Mapping | None = None) -> None:
        self.url = url
        self.engine = sa.create_engine(url)
        self.mapping = mapping or load_mapping(None)

    def maps(self, name: str) -> bool:
        """Whether the mapping provides extract `name` (optional extracts may be left out)."""
        return name in self.mapping.extracts

    def describe(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def extract(self, name: str, ds: date, history_days: int) -> pd.DataFrame:
        """Rows of extract `name` as of the end of day `ds` (time-bound extracts: the last `history_days`)."""
        import pandas as pd

        parts = list(self.extract_batches(name, ds, history_days))
        return parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)

    def extract_batches(
        self, name: str, ds: date, history_days: int | None, rows: int = BATCH_ROWS
    ) -> Iterator[pd.DataFrame]:
        """`extract`, `rows` at a time (server-side cursor where the driver has one): a multi-year
        extract never sits in memory as one pandas frame. Each batch is typed as `extract` types
        the whole; an empty extract is one empty batch with the canonical columns."""
        import pandas as pd

        spec = EXTRACTS[name]
        m = self.mapping.extracts.get(name)
        if m is None:
            raise ExtractError(f"{self.mapping.source}: no mapping for extract '{name}'")
        days = history_days if history_days is not None else 365 * 200
        since = ds - timedelta(days=days - 1)
        params = {"ds": ds.isoformat(), "since": since.isoformat(), "ds_end": (ds + timedelta(days=1)).isoformat()}
        try:
            conn = self.engine.connect().execution_options(stream_results=True)
        except sa.exc.SQLAlchemyError as e:
            # the server is down or unreachable: a retry may fix this one
            raise ErpUnavailable(
                f"{self.describe()}: cannot connect to the ERP to read '{name}': {_first_line(e)}"
            ) from e
        source = f"{self.describe()} ({m.table or 'query'})"
        seen = False
        try:
            with conn:
                stmt, params = self._statement(conn, name, m, spec, params)
                for df in pd.read_sql(stmt, conn, params=params or None, chunksize=rows):
                    df, missing = apply_columns(df, m)
                    if missing:
                        raise ExtractError(f"{self.describe()}: extract '{name}' source lacks column(s) {missing}")
                    seen = True
                    yield conform(name, df, source, strict=False)
        except sa.exc.SQLAlchemyError as e:
            if getattr(e, "connection_invalidated", False):
                raise ErpUnavailable(
                    f"{self.describe()}: lost the ERP connection reading '{name}': {_first_line(e)}"
                ) from e
            raise ExtractError(
                f"{self.describe()}: reading extract '{name}' failed ({self.mapping.source}): {_first_line(e)}"
            ) from e
        if not seen:  # a driver that yields no batch for no row: the canonical columns, no row
            yield conform(name, pd.DataFrame(columns=list(spec.columns)), source, strict=False)

    def _statement(self, conn: sa.Connection, name: str, m, spec, params: dict) -> tuple[sa.Executable, dict]:
        """The SELECT of an extract (the mapping's query, or its table bounded by the date column)."""
        if m.query:
            return sa.text(m.query), {k: v for k, v in params.items() if f":{k}" in m.query}
        if not m.table:
            raise ExtractError(f"{self.mapping.source}: extract '{name}' needs a table or a query")
        table = self._table(conn, m.table, name)
        select = sa.select(table)
        if spec.date_column:
            src = m.columns.get(spec.date_column, spec.date_column)
            if src not in table.c:
                raise ExtractError(
                    f"{self.mapping.source}: extract '{name}' reads table '{m.table}', "
                    f"which has no column '{src}' (it has {sorted(table.c.keys())})"
                )
            col = table.c[src]
            # bound by the day, whatever the stored type (DATE, TIMESTAMP or ISO text)
            select = select.where(col >= params["since"]).where(col < params["ds_end"])
        return select, {}

    def _table(self, conn: sa.Connection, table: str, name: str) -> sa.Table:
        schema, _, bare = table.rpartition(".")
        try:
            return sa.Table(bare, sa.MetaData(), autoload_with=conn, schema=schema or None)
        except sa.exc.NoSuchTableError as e:
            known = sorted(sa.inspect(conn).get_table_names(schema=schema or None))
            raise ExtractError(
                f"{self.mapping.source}: extract '{name}' names table '{table}', which does not "
                f"exist in {self.describe()} (tables there: {known[:30]})"
            ) from e

    # --- write-back ------------------------------------------------------------------------
    def commit_plan(
        self,
        plan_id: str,
        ds: date,
        version: str,
        lines: pd.DataFrame,
        exceptions: pd.DataFrame | None = None,
        published_by: str = "",
        before_commit: Callable[[], None] | None = None,
    ) -> dict[str, int]:
        """Publish a plan version in one transaction: its lines upserted by (plan_id, sku,
        location_id), its exceptions, and the publication record naming the version.

        Lines of the same plan that are no longer proposed (the plan changed on a rerun) are
        removed while still 'proposed'; lines a buyer already acted on are left alone.
        """
        create_writeback_tables(self.engine)
        purchases, transfers = split_lines(lines)
        rows = [
            {
                "plan_id": plan_id,
                "sku": r.sku,
                "location_id": r.location_id,
                "supplier_id": r.supplier_id,
                "qty": float(r.order_qty),
                "need_by": _day(r.need_by),
                "reason": r.reason,
                "status": "proposed",
                "created_ds": ds,
            }
            for r in purchases.itertuples(index=False)
        ]
        moves = [
            {
                "plan_id": plan_id,
                "sku": r.sku,
                "to_location_id": r.location_id,
                "from_location_id": r.source_id,
                "qty": float(r.order_qty),
                "requested_qty": float(r.requested_qty),
                "need_by": _day(r.need_by),
                "reason": r.reason,
                "status": "proposed",
                "created_ds": ds,
            }
            for r in transfers.itertuples(index=False)
        ]
        exc = (
            []
            if exceptions is None
            else [
                {
                    "plan_id": plan_id,
                    "sku": r.sku,
                    "location_id": r.location_id,
                    "kind": r.kind,
                    "detail": r.detail,
                    "status": "open",
                    "created_ds": ds,
                }
                for r in exceptions.itertuples(index=False)
            ]
        )
        t, e, m = requisitions_table, exceptions_table, transfers_table
        with self.engine.begin() as conn:
            removed = _replace_proposed(conn, t, plan_id, rows, ["sku", "location_id"], "proposed")
            removed += _replace_proposed(conn, m, plan_id, moves, ["sku", "to_location_id"], "proposed")
            _replace_proposed(conn, e, plan_id, exc, ["sku", "location_id", "kind"], "open")
            for table, batch, keys in (
                (t, rows, ["plan_id", "sku", "location_id"]),
                (m, moves, ["plan_id", "sku", "to_location_id"]),
                (e, exc, ["plan_id", "sku", "location_id", "kind"]),
            ):
                for i in range(0, len(batch), 500):
                    conn.execute(_upsert(conn, table, batch[i : i + 500], keys))
            record = {
                "plan_id": plan_id,
                "ds": ds,
                "version": version,
                "lines": len(rows) + len(moves),
                "exceptions": len(exc),
                "published_at": datetime.now(UTC).replace(tzinfo=None),
                "published_by": published_by[:200],
            }
            conn.execute(_upsert(conn, publications_table, [record], ["plan_id"], keep=()))
            if before_commit is not None:
                before_commit()
        return {"upserted": len(rows), "transfers": len(moves), "removed": removed, "exceptions": len(exc)}

    def publication(self, plan_id: str) -> dict | None:
        """The plan version the ERP holds for `plan_id` (None when nothing was published)."""
        if not sa.inspect(self.engine).has_table(PUBLICATIONS):
            return None
        t = publications_table
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t).where(t.c.plan_id == plan_id)).mappings().first()
        return dict(row) if row else None

    def write_cycle_count_tasks(self, tasks: pd.DataFrame, ds: date) -> int:
        create_writeback_tables(self.engine)
        rows = [dict(r._asdict(), created_ds=ds) for r in tasks.itertuples(index=False)]
        with self.engine.begin() as conn:
            for i in range(0, len(rows), 500):
                conn.execute(_upsert(conn, cycle_count_table, rows[i : i + 500], ["task_id"]))
        return len(rows)

    def read_table(self, name: str) -> pd.DataFrame:
        import pandas as pd

        with self.engine.connect() as conn:
            return pd.read_sql(sa.text(f"SELECT * FROM {name}"), conn)  # noqa: S608 - our own table names


def split_lines(lines: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A plan's order lines as (purchases, transfers): transfers are DC -> store lines of a
    network plan (`order_type` 'transfer'); a plan without the column is all purchases."""
    if "order_type" not in lines:
        return lines, lines.iloc[0:0]
    t = lines["order_type"].eq("transfer")
    return lines[~t], lines[t]


def _day(x):
    return x.date() if hasattr(x, "date") else x


def _first_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__


def _replace_proposed(
    conn: sa.Connection, table: sa.Table, plan_id: str, rows: list[dict], keys: list[str], untouched: str
) -> int:
    """Delete this plan's rows a rerun no longer proposes, while people have not acted on them."""
    keep = {tuple(r[k] for k in keys) for r in rows}
    cols = [table.c[k] for k in keys]
    existing = conn.execute(sa.select(*cols, table.c.status).where(table.c.plan_id == plan_id)).all()
    stale = [tuple(x[:-1]) for x in existing if tuple(x[:-1]) not in keep and x[-1] == untouched]
    for key in stale:
        conn.execute(
            table.delete().where(table.c.plan_id == plan_id, *[c == v for c, v in zip(cols, key, strict=True)])
        )
    return len(stale)


def _upsert(
    conn: sa.Connection,
    table: sa.Table,
    rows: list[dict],
    keys: list[str],
    keep: tuple[str, ...] = ("status", "created_ds"),
):
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = conn.dialect.name
    insert: Any = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}.get(dialect)
    if insert is None:
        raise ExtractError(f"write-back supports PostgreSQL and SQLite, not {dialect}")
    stmt = insert(table).values(rows)
    # a rerun refreshes what Stockwise wrote, never what people did with it (status) or when it
    # first appeared (created_ds)
    given = set(rows[0]) if rows else set()
    update = {
        c.name: stmt.excluded[c.name]
        for c in table.columns
        if c.name not in keys and c.name in given and c.name not in keep
    }
    return stmt.on_conflict_do_update(index_elements=keys, set_=update)
