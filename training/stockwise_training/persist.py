"""A trained model's state as plain files, never a pickle: what a registered model is made of.

A model logged "from code" (MLflow's models-from-code) is a Python file plus artifacts; loading
it runs our own code and reads data, so serving never unpickles classes, and a model stays
loadable when a class moves or a library changes its pickle format. `dump` writes an object
tree to a folder: `state.json` (the structure and the small values), `arrays.npz` (numeric
arrays, loaded with `allow_pickle=False`), one Parquet file per frame, one LightGBM text model
per booster, one skops file per scikit-learn estimator. Objects are rebuilt only for the classes
in `ALLOWED` (the dataclasses and model classes a registered model holds); anything else fails
at `dump` time, naming the attribute, so training stops before it registers a model that could
not be loaded.
"""

from __future__ import annotations

import importlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# the only classes `load` will construct (module, name)
ALLOWED = frozenset(
    {
        "stockwise_training.forecast.backtest.BacktestConfig",
        "stockwise_training.forecast.models.lgbm.LGBMParams",
        "stockwise_training.forecast.models.lgbm.GlobalLGBM",
        "stockwise_training.forecast.models.lgbm_spark.PartitionedLGBM",
        "stockwise.anomaly.rules.RuleParams",
    }
)
# scikit-learn internals a fitted IsolationForest is made of (skops refuses anything else)
SKOPS_TRUSTED = ["sklearn.tree._tree.Tree"]
FORMAT = 1


class StateError(TypeError):
    """The object tree holds a value that cannot be written as plain data."""


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


class _Writer:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.arrays: dict[str, np.ndarray] = {}
        self.n = 0

    def _name(self, suffix: str) -> str:
        self.n += 1
        return f"part-{self.n:04d}{suffix}"

    def encode(self, v: Any, path: str) -> Any:  # noqa: PLR0911, PLR0912 - one branch per kind of value
        if v is None or isinstance(v, (bool, str)):
            return v
        if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
            return int(v)
        if isinstance(v, (float, np.floating)):
            f = float(v)
            return f if math.isfinite(f) else {"$float": repr(f)}
        if isinstance(v, np.bool_):
            return bool(v)
        if isinstance(v, tuple):
            return {"$tuple": [self.encode(x, f"{path}[{i}]") for i, x in enumerate(v)]}
        if isinstance(v, list):
            return [self.encode(x, f"{path}[{i}]") for i, x in enumerate(v)]
        if isinstance(v, dict):
            return {"$dict": [[self.encode(k, f"{path}.key"), self.encode(x, f"{path}[{k!r}]")] for k, x in v.items()]}
        if isinstance(v, np.ndarray):
            if v.dtype == object:
                return {"$objarray": [self.encode(x, f"{path}[]") for x in v.tolist()], "shape": list(v.shape)}
            key = self._name("")
            self.arrays[key] = v
            return {"$array": key}
        if isinstance(v, pd.Timestamp):
            return {"$timestamp": v.isoformat()}
        if isinstance(v, (pd.DataFrame, pd.Series, pd.Index)):
            return self._frame(v, path)
        return self._object(v, path)

    def _frame(self, v: pd.DataFrame | pd.Series | pd.Index, path: str) -> dict:
        name = self._name(".parquet")
        if isinstance(v, pd.Index):
            kind, frame = "index", pd.DataFrame({"v": v})
            meta: dict[str, Any] = {"name": self.encode(v.name, path)}
        elif isinstance(v, pd.Series):
            kind, frame = "series", v.to_frame("v")
            meta = {"name": self.encode(v.name, path)}
        else:
            kind, frame = "frame", v
            if not all(isinstance(c, str) for c in v.columns):
                raise StateError(f"{path}: frame columns must be strings to be saved, not {list(v.columns)[:5]}")
            meta = {}
        frame.to_parquet(self.folder / name, index=kind != "index")
        return {f"${kind}": name, **meta}

    def _object(self, v: Any, path: str) -> dict:
        import lightgbm as lgb

        if isinstance(v, lgb.Booster):
            name = self._name(".lgb.txt")
            (self.folder / name).write_text(v.model_to_string(num_iteration=-1))
            return {"$booster": name}
        if _qualname(type(v)).startswith("sklearn."):
            import skops.io as sio

            name = self._name(".skops")
            sio.dump(v, self.folder / name)
            return {"$sklearn": name}
        cls = _qualname(type(v))
        if cls not in ALLOWED:
            raise StateError(
                f"{path}: a {cls} cannot be saved as plain data (not in stockwise_training.persist.ALLOWED)"
            )
        return {"$object": cls, "state": {k: self.encode(x, f"{path}.{k}") for k, x in vars(v).items()}}


class _Reader:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        npz = folder / "arrays.npz"
        self.arrays = dict(np.load(npz, allow_pickle=False)) if npz.exists() else {}

    def decode(self, v: Any) -> Any:  # noqa: PLR0911 - one branch per tag
        if isinstance(v, list):
            return [self.decode(x) for x in v]
        if not isinstance(v, dict):
            return v
        if "$float" in v:
            return float(v["$float"])
        if "$tuple" in v:
            return tuple(self.decode(x) for x in v["$tuple"])
        if "$dict" in v:
            return {self.decode(k): self.decode(x) for k, x in v["$dict"]}
        if "$array" in v:
            return self.arrays[v["$array"]]
        if "$objarray" in v:
            out = np.empty(len(v["$objarray"]), dtype=object)
            out[:] = [self.decode(x) for x in v["$objarray"]]
            return out.reshape(v["shape"])
        if "$timestamp" in v:
            return pd.Timestamp(v["$timestamp"])
        if "$frame" in v:
            return pd.read_parquet(self.folder / v["$frame"])
        if "$series" in v:
            return pd.read_parquet(self.folder / v["$series"])["v"].rename(self.decode(v["name"]))
        if "$index" in v:
            return pd.Index(pd.read_parquet(self.folder / v["$index"])["v"], name=self.decode(v["name"]))
        if "$booster" in v:
            import lightgbm as lgb

            return lgb.Booster(model_str=(self.folder / v["$booster"]).read_text())
        if "$sklearn" in v:
            import skops.io as sio

            return sio.load(self.folder / v["$sklearn"], trusted=SKOPS_TRUSTED)
        if "$object" in v:
            return self._object(v["$object"], v["state"])
        raise StateError(f"unknown tag in saved state: {sorted(v)}")

    def _object(self, qualname: str, state: dict) -> Any:
        if qualname not in ALLOWED:
            raise StateError(f"saved state names {qualname}, which stockwise does not rebuild")
        module, _, name = qualname.rpartition(".")
        cls = getattr(importlib.import_module(module), name)
        obj = cls.__new__(cls)
        # frozen dataclasses refuse setattr: fill the instance dict directly
        obj.__dict__.update({k: self.decode(x) for k, x in state.items()})
        return obj


def dump(obj: Any, folder: str | Path) -> Path:
    """Write `obj` (a tree of plain values, arrays, frames, boosters and ALLOWED objects) to `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    w = _Writer(folder)
    tree = w.encode(obj, "model")
    if w.arrays:
        np.savez(folder / "arrays.npz", **w.arrays)  # type: ignore[arg-type]
    (folder / "state.json").write_text(json.dumps({"format": FORMAT, "state": tree}, indent=1))
    return folder


def load(folder: str | Path) -> Any:
    """Rebuild what `dump` wrote (no pickle: only ALLOWED classes are constructed)."""
    folder = Path(folder)
    doc = json.loads((folder / "state.json").read_text())
    if doc.get("format") != FORMAT:
        raise StateError(f"{folder}: saved state format {doc.get('format')!r}, this stockwise reads {FORMAT}")
    return _Reader(folder).decode(doc["state"])
