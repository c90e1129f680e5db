"""The `sql` connector (SQLAlchemy): SQLite for the embedded demo, PostgreSQL in production."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa

from stockwise.erp.mapping import Mapping, apply_columns, load_mapping
from stockwise.erp.schema import CYCLE_COUNT_TASKS, EXTRACTS, PURCHASE_REQUISITIONS, conform
from stockwise.errors import ExtractError

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

        spec = EXTRACTS[name]
        m = self.mapping.extracts.get(name)
        if m is None:
            raise ExtractError(f"{self.mapping.source}: no mapping for extract '{name}'")
        since = ds - timedelta(days=history_days - 1)
        params = {"ds": ds.isoformat(), "since": since.isoformat(),
                  "ds_end": (ds + timedelta(days=1)).isoformat()}
        if m.query:
            stmt = sa.text(m.query)
            params = {k: v for k, v in params.items() if f":{k}" in m.query}
        elif m.table:
            table = sa.Table(m.table, sa.MetaData(), autoload_with=self.engine)
            stmt = sa.select(table)
            if spec.date_column:
                col = table.c[m.columns.get(spec.date_column, spec.date_column)]
                # bound by the day, whatever the stored type (DATE, TIMESTAMP or ISO text)
                stmt = stmt.where(col >= params["since"]).where(col < params["ds_end"])
            params = {}
        else:
            raise ExtractError(f"{self.mapping.source}: extract '{name}' needs a table or a query")
        try:
            with self.engine.connect() as conn:
                df = pd.read_sql(stmt, conn, params=params or None)
        except sa.exc.SQLAlchemyError as e:
            raise ExtractError(f"{self.describe()}: reading extract '{name}' failed: {e}") from e
        df, missing = apply_columns(df, m)
        if missing:
            raise ExtractError(f"{self.describe()}: extract '{name}' source lacks column(s) {missing}")
        return conform(name, df, f"{self.describe()} ({m.table or 'query'})", strict=False)

    # --- write-back ------------------------------------------------------------------------
    def write_requisitions(self, plan_id: str, lines: pd.DataFrame, ds: date) -> dict[str, int]:
        """Upsert the plan's lines by (plan_id, sku, location_id) in one transaction.

        Lines of the same plan that are no longer proposed (the plan changed on a rerun) are
        removed while still 'proposed'; lines a buyer already acted on are left alone.
        """
        create_writeback_tables(self.engine)
        rows = [
            {
                "plan_id": plan_id,
                "sku": r.sku,
                "location_id": r.location_id,
                "supplier_id": r.supplier_id,
                "qty": float(r.order_qty),
                "need_by": r.need_by.date() if hasattr(r.need_by, "date") else r.need_by,
                "reason": r.reason,
                "status": "proposed",
                "created_ds": ds,
            }
            for r in lines.itertuples(index=False)
        ]
        t = requisitions_table
        with self.engine.begin() as conn:
            keep = {(r["sku"], r["location_id"]) for r in rows}
            existing = conn.execute(
                sa.select(t.c.sku, t.c.location_id, t.c.status).where(t.c.plan_id == plan_id)
            ).all()
            stale = [(s, lo) for s, lo, st in existing if (s, lo) not in keep and st == "proposed"]
            for s, lo in stale:
                conn.execute(
                    t.delete().where(t.c.plan_id == plan_id, t.c.sku == s, t.c.location_id == lo)
                )
            for i in range(0, len(rows), 500):
                conn.execute(_upsert(conn, t, rows[i : i + 500], ["plan_id", "sku", "location_id"]))
        return {"upserted": len(rows), "removed": len(stale)}

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


def _upsert(conn: sa.Connection, table: sa.Table, rows: list[dict], keys: list[str]):
    dialect = conn.dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        raise ExtractError(f"write-back supports PostgreSQL and SQLite, not {dialect}")
    stmt = insert(table).values(rows)
    # a rerun refreshes what Stockwise wrote, never what people did with it (status) or when it
    # first appeared (created_ds)
    given = set(rows[0]) if rows else set()
    keep = {"status", "created_ds"}
    update = {c.name: stmt.excluded[c.name] for c in table.columns
              if c.name not in keys and c.name in given and c.name not in keep}
    return stmt.on_conflict_do_update(index_elements=keys, set_=update)
