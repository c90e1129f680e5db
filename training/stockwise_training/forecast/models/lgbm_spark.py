"""The global LightGBM model, partitioned (by location or category) and trained through Spark.

One `GlobalLGBM` per partition, each fitted inside a Spark task (`cogroup(...).applyInPandas`)
on that partition's rows of the feature panel and covariates: the training scales out to as
many executors as there are partitions, and no machine ever holds more than one partition's
training matrix. Each task returns its forecast rows and its pickled, slimmed model; the driver
keeps the models, so serving forecasts a new history partition by partition without Spark.
`spark=False` fits the same partitions one after another in-process (same models, same
forecasts: the partitions are independent and every fit is seeded).
"""

from __future__ import annotations

import logging
import pickle
import tempfile
import time

import numpy as np
import pandas as pd
import pyarrow as pa

from stockwise_training.forecast.models.lgbm import GlobalLGBM
from stockwise_training.forecast.panel import KEYS, Matrix, to_matrix

log = logging.getLogger(__name__)
PART = "_part"
SLOT = "_slot"  # a bigint per partition that Spark hashes to a task of its own (`one_slot_per_key`)
_PARQUET = {"index": False, "coerce_timestamps": "us", "allow_truncated_timestamps": True}  # Spark reads no ns


def _subset(m: Matrix, idx: np.ndarray) -> Matrix:
    return Matrix(m.keys.iloc[idx].reset_index(drop=True), m.dates, m.freq, {k: v[idx] for k, v in m.cols.items()})


def to_long(m: Matrix) -> pd.DataFrame:
    """The matrix back as panel rows (periods before a series starts left out)."""
    s, t = np.nonzero(~np.isnan(m.cols["qty"]))
    out = pd.DataFrame(
        {"sku": m.keys["sku"].to_numpy()[s], "location_id": m.keys["location_id"].to_numpy()[s], "date": m.dates[t]}
    )
    for c, mat in m.cols.items():
        out[c] = mat[s, t]
    return out


def _fit_partition(
    part: str,
    pdf: pd.DataFrame,
    edf: pd.DataFrame | None,
    freq: str,
    params: dict,
    statics: pd.DataFrame | None,
    nq: int,
) -> pd.DataFrame:
    """Fit one partition's model (inside a Spark task or in-process); forecast rows + the model."""
    t0 = time.monotonic()
    sub = to_matrix(pdf.drop(columns=[PART]), freq)
    model = GlobalLGBM(**params).fit(sub, statics=statics, exog=edf.drop(columns=[PART]) if edf is not None else None)
    mean, q = model.predict(model.p.horizon)
    S, h = mean.shape
    rows = pd.DataFrame(
        {
            "part": part,
            "sku": np.repeat(sub.keys["sku"].astype(str).to_numpy(), h),
            "location_id": np.repeat(sub.keys["location_id"].astype(str).to_numpy(), h),
            "k": np.tile(np.arange(1, h + 1), S),
            "mean": mean.ravel(),
        }
    )
    for j in range(nq):
        rows[f"q{j}"] = q[..., j].ravel() if q is not None else np.nan
    rows["seconds"] = time.monotonic() - t0
    rows["model"] = None
    rows.loc[0, "model"] = pickle.dumps(model.slim())
    return rows


class PartitionedLGBM:
    """`GlobalLGBM` per partition of the series; same fit/predict interface."""

    name = "lightgbm"

    def __init__(self, partition_by: str = "location_id", spark: bool = True, **params) -> None:
        if partition_by not in ("location_id", "category"):
            raise ValueError(f"partition_by must be 'location_id' or 'category', not {partition_by!r}")
        self.partition_by = partition_by
        self.use_spark = spark
        params.setdefault("threads", 1)  # one core per Spark task: the tasks are the parallelism
        self.params = params
        self.p = GlobalLGBM(**params).p
        self.models: dict[str, GlobalLGBM] = {}

    def _parts(self, keys: pd.DataFrame, statics: pd.DataFrame | None) -> np.ndarray:
        if self.partition_by == "location_id":
            return keys["location_id"].astype(str).to_numpy()
        if statics is None or "category" not in statics:
            raise ValueError("partition_by='category' needs item statics with a category column")
        cat = keys[["sku"]].merge(statics[["sku", "category"]].drop_duplicates("sku"), on="sku", how="left")["category"]
        return cat.fillna("?").astype(str).to_numpy()

    def fit(self, m: Matrix, statics: pd.DataFrame | None = None, exog: pd.DataFrame | None = None) -> PartitionedLGBM:
        t0 = time.monotonic()
        parts = self._parts(m.keys, statics)
        long = to_long(m)
        long[PART] = pd.Series(parts).to_numpy()[
            pd.MultiIndex.from_frame(m.keys).get_indexer(pd.MultiIndex.from_frame(long[KEYS]))
        ]
        e = None
        if exog is not None and len(exog):
            e = exog.merge(
                pd.DataFrame({"sku": m.keys["sku"], "location_id": m.keys["location_id"], PART: parts}),
                on=KEYS,
                how="inner",
            )
        nq = len(self.p.quantiles)
        n_parts = len(set(parts))
        log.info(
            "lightgbm by %s: %d partitions, %d series, %s",
            self.partition_by,
            n_parts,
            len(m.keys),
            "through Spark" if self.use_spark else "in-process",
        )
        if self.use_spark:
            out = self._fit_spark(long, e, m.freq, statics, nq)
        else:
            out = pd.concat(
                [
                    _fit_partition(
                        p,
                        long[long[PART] == p],
                        None if e is None else e[e[PART] == p],
                        m.freq,
                        self.params,
                        statics,
                        nq,
                    )
                    for p in sorted(set(parts))
                ],
                ignore_index=True,
            )
        self._collect(m, out, nq)
        log.info(
            "lightgbm by %s: %d models in %.0fs (slowest partition %.0fs)%s",
            self.partition_by,
            len(self.models),
            time.monotonic() - t0,
            out.groupby("part")["seconds"].first().max(),
            f", in {len(set(self.tasks.values()))} Spark tasks" if self.tasks else "",
        )
        return self

    def _fit_spark(self, long, e, freq, statics, nq) -> pd.DataFrame:
        from stockwise.settings import Settings
        from stockwise.spark import spark_job

        params = self.params
        schema = (
            "part string, sku string, location_id string, k int, mean double, "
            + "".join(f"q{j} double, " for j in range(nq))
            + "seconds double, model binary, task int"
        )
        # the executors read the rows from Parquet files where they share this process's disk
        # (local mode, or STOCKWISE_SPARK_SCRATCH mounted by every executor); otherwise the rows
        # are shipped from the driver (a cluster whose executors see none of its folders)
        from stockwise import spark as sparkutil

        settings = Settings()
        shared = sparkutil.shares_disk(settings)
        with (
            spark_job(settings, "stockwise-lightgbm") as spark,
            tempfile.TemporaryDirectory(dir=sparkutil.work_dir(settings) if shared else None) as tmp,
        ):

            def frame(df: pd.DataFrame, name: str):
                df = df.astype({"sku": str, "location_id": str})
                if not shared:
                    return sparkutil.from_arrow(spark, pa.Table.from_pandas(df, preserve_index=False))
                df.to_parquet(f"{tmp}/{name}.parquet", **_PARQUET)
                return spark.read.parquet(f"{tmp}/{name}.parquet")

            # one task per partition: hashing the partition names into as many Spark partitions
            # makes them collide (one task fitting several while others idle), so each name gets
            # a slot that hashes to a Spark partition of its own, and the groups are (slot, name)
            slots = sparkutil.one_slot_per_key(spark, sorted(set(long[PART])))
            n_parts = len(slots)

            def by_slot(df: pd.DataFrame, name: str):
                df[SLOT] = df[PART].map(slots).astype("int64")  # in place: the frame is this fit's own
                return frame(df, name).repartition(n_parts, SLOT).groupBy(SLOT, PART)

            def tagged(rows: pd.DataFrame) -> pd.DataFrame:
                from pyspark import TaskContext

                return rows.assign(task=TaskContext.get().partitionId())

            if e is None:

                def fn(key, pdf):
                    return tagged(_fit_partition(key[1], pdf.drop(columns=[SLOT]), None, freq, params, statics, nq))

                res = by_slot(long, "panel").applyInPandas(fn, schema=schema)
            else:

                def fn_with_exog(key, pdf, edf_):
                    pdf, edf_ = pdf.drop(columns=[SLOT]), edf_.drop(columns=[SLOT])
                    return tagged(_fit_partition(key[1], pdf, edf_, freq, params, statics, nq))

                res = by_slot(long, "panel").cogroup(by_slot(e, "exog")).applyInPandas(fn_with_exog, schema=schema)
            return res.toPandas()

    def _collect(self, m: Matrix, out: pd.DataFrame, nq: int) -> None:
        self.models = {r.part: pickle.loads(r.model) for r in out[out["model"].notna()].itertuples()}
        # which Spark task fitted each partition (none in-process): one task each, never shared
        self.tasks = out.groupby("part")["task"].first().to_dict() if "task" in out else {}
        keys = m.keys.astype({"sku": str, "location_id": str})
        s = pd.MultiIndex.from_frame(keys).get_indexer(pd.MultiIndex.from_frame(out[KEYS]))
        h = self.p.horizon
        self._mean = np.zeros((len(keys), h))
        q = np.zeros((len(keys), h, nq))
        self._mean[s, out["k"] - 1] = out["mean"].to_numpy()
        for j in range(nq):
            q[s, out["k"] - 1, j] = out[f"q{j}"].to_numpy()
        self._q = q if nq else None
        imp = [md.importance for md in self.models.values()]
        self.importance = (
            pd.concat(imp, axis=1).sum(axis=1).sort_values(ascending=False) if imp else pd.Series(dtype=float)
        )
        self.n_train_rows = sum(getattr(md, "n_train_rows", 0) for md in self.models.values())

    def predict(self, horizon: int, future=None):
        if horizon > self.p.horizon:
            raise ValueError(f"model trained for horizon {self.p.horizon}, asked for {horizon}")
        return self._mean[:, :horizon], None if self._q is None else self._q[:, :horizon]

    def slim(self) -> PartitionedLGBM:
        self.__dict__.pop("_mean", None)
        self.__dict__.pop("_q", None)
        return self

    def predict_on(self, m: Matrix, horizon: int, statics=None, exog=None):
        """Forecast a new history with each partition's boosters, in-process (no refit)."""
        parts = self._parts(m.keys, statics)
        mean = np.zeros((len(m.keys), horizon))
        q = np.zeros((len(m.keys), horizon, len(self.p.quantiles))) if self.p.quantiles else None
        for part in sorted(set(parts)):
            idx = np.flatnonzero(parts == part)
            model = self.models.get(part)
            if model is None:  # a location or category unseen in training: the largest partition's model
                model = max(self.models.values(), key=lambda md: getattr(md, "n_train_rows", 0))
            mu, qq = model.predict_on(_subset(m, idx), horizon, statics, exog)
            mean[idx] = mu
            if q is not None:
                q[idx] = qq
        return mean, q
