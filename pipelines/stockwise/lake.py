"""The lake: one small interface over a local folder and `s3://bucket/prefix`.

A partition is `<dataset>/ds=<YYYY-MM-DD>/`. Its data files are content-addressed under
`v=<hash>/` and its `manifest.json` is written last: a reader that goes through the manifest
never sees a half-written partition, and a rerun that computes the same data leaves exactly the
same files (the version is the hash of the content). After the manifest is switched, older
versions are removed, except where `keep_history` is asked (raw extracts: the audit trail).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from stockwise.errors import LakeConflict, LakeError

if TYPE_CHECKING:
    import pandas as pd

    from stockwise.settings import Settings

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"


class Store(Protocol):
    url: str

    def put(self, key: str, data: bytes) -> None: ...
    def get(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def list(self, prefix: str) -> list[str]: ...
    def delete(self, keys: Iterable[str]) -> None: ...
    def uri(self, key: str) -> str: ...
    def get_versioned(self, key: str) -> tuple[bytes, str] | None: ...
    def put_if(self, key: str, data: bytes, expect: str | None) -> str: ...


def _umask() -> int:
    old = os.umask(0o022)
    os.umask(old)
    return old


def _etag(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class LocalStore:
    """A folder. Each put is atomic (temporary file in the same folder, then rename)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self.url = str(self.root)
        # mkstemp creates 0600 files; lake files are shared (a team drive), so honour the umask
        self.mode = 0o666 & ~_umask()

    def _path(self, key: str) -> Path:
        p = (self.root / key).resolve()
        if self.root not in p.parents and p != self.root:
            raise LakeError(f"key {key!r} escapes the lake root {self.root}")
        return p

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            os.fchmod(fd, self.mode)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @contextlib.contextmanager
    def _exclusive(self, key: str):
        """Serialise compare-and-swap on one key across processes (an flock beside the lake)."""
        guard = self.root / ".cas" / (hashlib.sha1(key.encode()).hexdigest() + ".lock")
        guard.parent.mkdir(parents=True, exist_ok=True)
        with open(guard, "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def get_versioned(self, key: str) -> tuple[bytes, str] | None:
        try:
            data = self._path(key).read_bytes()
        except FileNotFoundError:
            return None
        return data, _etag(data)

    def put_if(self, key: str, data: bytes, expect: str | None) -> str:
        """Write `key` only if it is absent (`expect=None`) or still holds version `expect`."""
        with self._exclusive(key):
            cur = self.get_versioned(key)
            if (cur is None) != (expect is None) or (cur is not None and cur[1] != expect):
                raise LakeConflict(f"{self.uri(key)} changed under us (expected {expect or 'absent'})")
            self.put(key, data)
        return _etag(data)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as e:
            raise LakeError(f"not in the lake: {self.uri(key)}") from e

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str) -> list[str]:
        base = self._path(prefix) if prefix else self.root
        if not base.exists():
            return []
        rels = (p.relative_to(self.root) for p in base.rglob("*") if p.is_file())
        # hidden names are ours: half-written temporaries (.tmp-*) and compare-and-swap guards (.cas/)
        return sorted(str(r) for r in rels if not any(part.startswith(".") for part in r.parts))

    def delete(self, keys: Iterable[str]) -> None:
        for key in keys:
            path = self._path(key)
            path.unlink(missing_ok=True)
            # prune empty folders up to the partition
            for parent in path.parents:
                if parent == self.root or any(parent.iterdir()):
                    break
                parent.rmdir()

    def uri(self, key: str) -> str:
        return str(self._path(key))


class S3Store:
    """`s3://bucket/prefix` through boto3; `endpoint_url` for MinIO or any S3-compatible server."""

    def __init__(self, url: str, endpoint_url: str | None = None, **client_kwargs: Any) -> None:
        import boto3

        rest = url.removeprefix("s3://")
        self.bucket, _, prefix = rest.partition("/")
        if len(self.bucket) < 3:
            raise LakeError(f"bad S3 lake URL {url!r}: bucket names have 3 or more characters")
        self.prefix = prefix.strip("/")
        self.url = url.rstrip("/")
        self.client = boto3.client("s3", endpoint_url=endpoint_url, **client_kwargs)

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def get(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except self.client.exceptions.NoSuchKey as e:
            raise LakeError(f"not in the lake: {self.uri(key)}") from e

    def exists(self, key: str) -> bool:
        resp = self.client.list_objects_v2(Bucket=self.bucket, Prefix=self._key(key), MaxKeys=1)
        return any(o["Key"] == self._key(key) for o in resp.get("Contents", []))

    def list(self, prefix: str) -> list[str]:
        out: list[str] = []
        strip = len(self.prefix) + 1 if self.prefix else 0
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self._key(prefix))
        for page in pages:
            out.extend(o["Key"][strip:] for o in page.get("Contents", []))
        return sorted(out)

    def get_versioned(self, key: str) -> tuple[bytes, str] | None:
        try:
            obj = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.NoSuchKey:
            return None
        return obj["Body"].read(), obj["ETag"]

    def put_if(self, key: str, data: bytes, expect: str | None) -> str:
        """S3 conditional writes: If-None-Match: * to create, If-Match: <etag> to replace."""
        from botocore.exceptions import ClientError

        cond = {"IfNoneMatch": "*"} if expect is None else {"IfMatch": expect}
        try:
            return self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, **cond)["ETag"]
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise LakeConflict(f"{self.uri(key)} changed under us (expected {expect or 'absent'})") from e
            raise

    def delete(self, keys: Iterable[str]) -> None:
        batch = [{"Key": self._key(k)} for k in keys]
        for i in range(0, len(batch), 1000):
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch[i : i + 1000]})

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"


class ScenarioStore:
    """A what-if's own corner of the lake, `scenarios/<name>/`.

    Everything it writes, lists or deletes stays under that prefix, so a scenario can never
    touch the official plan, report or forecasts. It reads the day's shared inputs (extracts,
    features, Data Docs, overrides, shelf counts) from the official lake when it did not make
    its own, so a what-if reuses the official run's data instead of pulling the ERP again.
    """

    def __init__(self, base: Store, name: str, shared: tuple[str, ...] | None = None) -> None:
        if shared is None:  # the catalog names the shared inputs (it imports this module: a late import)
            from stockwise.catalog import SHARED_PREFIXES

            shared = SHARED_PREFIXES
        self.base = base
        self.name = name
        self.shared = shared
        self.prefix = f"scenarios/{name}/"
        self.url = base.uri(self.prefix.rstrip("/"))

    def _k(self, key: str) -> str:
        return self.prefix + key

    def _shared(self, key: str) -> bool:
        return key.startswith(self.shared)

    def reads_official(self, key: str) -> bool:
        """Whether `key` comes from the official lake (a shared input this scenario did not make)."""
        return self._shared(key) and not self.base.exists(self._k(key))

    def put(self, key: str, data: bytes) -> None:
        self.base.put(self._k(key), data)

    def get(self, key: str) -> bytes:
        if self._shared(key) and not self.base.exists(self._k(key)):
            return self.base.get(key)
        return self.base.get(self._k(key))

    def exists(self, key: str) -> bool:
        return self.base.exists(self._k(key)) or (self._shared(key) and self.base.exists(key))

    def list(self, prefix: str) -> list[str]:
        n = len(self.prefix)
        return [k[n:] for k in self.base.list(self._k(prefix))]

    def delete(self, keys: Iterable[str]) -> None:
        self.base.delete([self._k(k) for k in keys])

    def uri(self, key: str) -> str:
        return self.base.uri(key) if self.reads_official(key) and self.base.exists(key) else self.base.uri(self._k(key))

    def get_versioned(self, key: str) -> tuple[bytes, str] | None:
        return self.base.get_versioned(self._k(key))

    def put_if(self, key: str, data: bytes, expect: str | None) -> str:
        return self.base.put_if(self._k(key), data, expect)


def open_official(settings: Settings) -> Store:
    """The official lake, whatever scenario the settings name."""
    url = settings.lake
    if url.startswith("s3://"):
        kwargs: dict[str, Any] = {"region_name": settings.aws_region}
        if settings.aws_access_key_id and settings.aws_secret_access_key:
            kwargs["aws_access_key_id"] = settings.aws_access_key_id.get_secret_value()
            kwargs["aws_secret_access_key"] = settings.aws_secret_access_key.get_secret_value()
        return S3Store(url, endpoint_url=settings.s3_endpoint_url, **kwargs)
    if "://" in url and not url.startswith("file://"):
        raise LakeError(f"unsupported lake URL {url!r}: use a folder or s3://bucket/prefix")
    return LocalStore(url.removeprefix("file://"))


def open_lake(settings: Settings) -> Store:
    """The lake a job reads and writes: the official one, or the scenario's corner of it."""
    base = open_official(settings)
    return ScenarioStore(base, settings.scenario) if settings.scenario else base


@dataclass(frozen=True)
class Partition:
    dataset: str
    ds: str
    version: str
    files: dict[str, dict[str, Any]]
    meta: dict[str, Any]

    def key(self, name: str) -> str:
        try:
            return self.files[name]["key"]
        except KeyError as e:
            raise LakeError(f"{self.dataset}/ds={self.ds} has no file {name!r} (has {sorted(self.files)})") from e


def partition_prefix(dataset: str, ds: str) -> str:
    return f"{dataset.strip('/')}/ds={ds}"


PENDING = "_manifest.json"  # a staged version's manifest, inside its v=<hash>/ folder


def stage_partition(
    store: Store,
    dataset: str,
    ds: str,
    files: dict[str, bytes],
    meta: dict[str, Any] | None = None,
) -> Partition:
    """Write a new version's data files and its pending manifest; readers do not see it yet."""
    if not files:
        raise LakeError(f"refusing to write an empty partition {dataset}/ds={ds}")
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode())
        digest.update(hashlib.sha256(files[name]).digest())
    version = digest.hexdigest()[:16]
    prefix = partition_prefix(dataset, ds)
    entries: dict[str, dict[str, Any]] = {}
    for name in sorted(files):
        key = f"{prefix}/v={version}/{name}"
        store.put(key, files[name])
        entries[name] = {
            "key": key,
            "bytes": len(files[name]),
            "sha256": hashlib.sha256(files[name]).hexdigest(),
        }
    part = Partition(dataset, ds, version, entries, meta or {})
    store.put(f"{prefix}/v={version}/{PENDING}", _manifest_bytes(part))
    return part


def commit_partition(store: Store, part: Partition, keep_history: bool = False) -> Partition:
    """Make a staged version the partition's current one (the manifest), then clean up."""
    prefix = partition_prefix(part.dataset, part.ds)
    store.put(f"{prefix}/{MANIFEST}", _manifest_bytes(part))
    if not keep_history:
        stale = [k for k in store.list(prefix + "/") if "/v=" in k and f"/v={part.version}/" not in k]
        if stale:
            store.delete(stale)
    log.info("wrote %s (%d files, version %s)", store.uri(prefix), len(part.files), part.version)
    return part


def staged_partition(store: Store, dataset: str, ds: str, version: str) -> Partition | None:
    """A version staged by `stage_partition` (committed or not), or None if it is not there."""
    key = f"{partition_prefix(dataset, ds)}/v={version}/{PENDING}"
    if not store.exists(key):
        return None
    m = json.loads(store.get(key))
    return Partition(m["dataset"], m["ds"], m["version"], m["files"], m.get("meta", {}))


def write_partition(
    store: Store,
    dataset: str,
    ds: str,
    files: dict[str, bytes],
    meta: dict[str, Any] | None = None,
    keep_history: bool = False,
) -> Partition:
    """Replace partition `dataset/ds=<ds>` with `files`: data first, manifest last, then clean up."""
    return commit_partition(store, stage_partition(store, dataset, ds, files, meta), keep_history)


def append_partition(
    store: Store, dataset: str, ds: str, files: dict[str, bytes], meta: dict[str, Any] | None = None
) -> Partition:
    """A new version of `dataset/ds=<ds>` holding the current version's files and `files`
    (new names only: an appended file never replaces one). The older files are not copied:
    the new manifest points at them, so every version is kept (`keep_history`). Appends
    to one partition must not run at once (the caller holds a lock); the manifest is written
    last, so a reader sees the whole append or none of it."""
    if not files:
        raise LakeError(f"refusing an empty append to {dataset}/ds={ds}")
    old = read_manifest(store, dataset, ds) if has_partition(store, dataset, ds) else None
    carried = dict(old.files) if old else {}
    clash = sorted(set(carried) & set(files))
    if clash:
        raise LakeError(f"{dataset}/ds={ds} already holds {clash}: an append adds files, it never replaces one")
    digest = hashlib.sha256()
    for name in sorted({**carried, **files}):
        digest.update(name.encode())
        sha = bytes.fromhex(carried[name]["sha256"]) if name in carried else hashlib.sha256(files[name]).digest()
        digest.update(sha)
    version = digest.hexdigest()[:16]
    prefix = partition_prefix(dataset, ds)
    entries = dict(carried)
    for name in sorted(files):
        key = f"{prefix}/v={version}/{name}"
        store.put(key, files[name])
        entries[name] = {"key": key, "bytes": len(files[name]), "sha256": hashlib.sha256(files[name]).hexdigest()}
    part = Partition(dataset, ds, version, entries, {**(old.meta if old else {}), **(meta or {})})
    store.put(f"{prefix}/v={version}/{PENDING}", _manifest_bytes(part))
    return commit_partition(store, part, keep_history=True)


def _manifest_bytes(part: Partition) -> bytes:
    m = {"dataset": part.dataset, "ds": part.ds, "version": part.version, "files": part.files, "meta": part.meta}
    return json.dumps(m, indent=2, sort_keys=True, default=str).encode()


def read_manifest(store: Store, dataset: str, ds: str) -> Partition:
    key = f"{partition_prefix(dataset, ds)}/{MANIFEST}"
    if not store.exists(key):
        raise LakeError(f"partition {store.uri(partition_prefix(dataset, ds))} has no manifest")
    m = json.loads(store.get(key))
    return Partition(m["dataset"], m["ds"], m["version"], m["files"], m.get("meta", {}))


def has_partition(store: Store, dataset: str, ds: str) -> bool:
    return store.exists(f"{partition_prefix(dataset, ds)}/{MANIFEST}")


def read_file(store: Store, dataset: str, ds: str, name: str) -> bytes:
    return store.get(read_manifest(store, dataset, ds).key(name))


def parquet_bytes(df: pd.DataFrame) -> bytes:
    import pyarrow as pa

    buf = io.BytesIO()
    # microseconds: Spark (and most engines) cannot read pandas' default nanosecond timestamps
    try:
        df.to_parquet(buf, index=False, coerce_timestamps="us", allow_truncated_timestamps=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        # a column of mixed values (text typed into a quantity): kept as text, so the batch is
        # stored as pulled and validation can name the rows at fault
        buf = io.BytesIO()
        _as_text(df).to_parquet(buf, index=False, coerce_timestamps="us", allow_truncated_timestamps=True)
    return buf.getvalue()


def parquet_bytes_of_batches(batches) -> tuple[bytes, int]:
    """One Parquet file (and its row count) from frames that arrive one at a time: each is
    turned into Arrow as it comes (columnar, strings packed), so the extract never sits in
    memory as one pandas frame. Batches whose types disagree (text typed into a quantity in one
    of them) are stored as `parquet_bytes` stores such a frame: as pulled, as text."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables, frames_as_text = [], False
    for df in batches:
        try:
            tables.append(pa.Table.from_pandas(df, preserve_index=False))
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            frames_as_text = True
            tables.append(pa.Table.from_pandas(_as_text(df), preserve_index=False))
    table = None if frames_as_text else _concat(tables)
    if table is None:
        import pandas as pd

        whole = pd.concat([t.to_pandas() for t in tables], ignore_index=True)
        return parquet_bytes(whole), len(whole)
    buf = io.BytesIO()
    pq.write_table(table, buf, coerce_timestamps="us", allow_truncated_timestamps=True)
    return buf.getvalue(), table.num_rows


def _concat(tables: list):
    """The tables as one, or None where their column types disagree."""
    import pyarrow as pa

    try:
        return pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None


def _as_text(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object:
            out[c] = out[c].map(
                lambda v: (
                    None if v is None or (isinstance(v, float) and v != v) else v if isinstance(v, str) else str(v)
                )
            )
    return out


def iter_series(
    store: Store, dataset: str, ds: str, keys: list[str], rows: int = 1_000_000, columns: list[str] | None = None
) -> Iterator[pd.DataFrame]:
    """A partition's rows as frames of whole series, about `rows` rows each, never all at once.

    The partition's Parquet parts must hold each series whole and its rows together, as the
    Spark jobs write them (repartitioned by sku, sorted by series and day); a series found in two
    places raises LakeError rather than being scored in pieces. `columns`: only these (the keys
    are always read)."""
    import numpy as np
    import pandas as pd
    import pyarrow.parquet as pq

    part = read_manifest(store, dataset, ds)
    names = sorted(n for n in part.files if n.endswith(".parquet"))
    cols = None if columns is None else list(dict.fromkeys([*keys, *columns]))
    seen: set[tuple] = set()

    def whole(df: pd.DataFrame, name: str) -> pd.DataFrame:
        change = (df[keys].shift() != df[keys]).any(axis=1).to_numpy()
        starts = df.loc[change, keys].itertuples(index=False, name=None)
        for key in starts:
            if key in seen:
                raise LakeError(
                    f"{dataset}/ds={ds}/{name}: series {key} appears in two places; "
                    "the partition is not grouped by series (rewrite it with the feature job)"
                )
            seen.add(key)
        return df.reset_index(drop=True)

    for name in names:
        carry = None
        for batch in pq.ParquetFile(io.BytesIO(store.get(part.key(name)))).iter_batches(batch_size=rows, columns=cols):
            df = batch.to_pandas()
            if carry is not None:
                df = pd.concat([carry, df], ignore_index=True)
            if not len(df):
                continue
            # the batch's last series may go on in the next batch of this part
            last = (df[keys] == df[keys].iloc[-1]).all(axis=1).to_numpy()
            cut = len(df) - int(np.argmin(last[::-1])) if not last.all() else 0
            carry = df.iloc[cut:]
            if cut:
                yield whole(df.iloc[:cut], name)
        if carry is not None and len(carry):
            yield whole(carry, name)


def read_parquet(store: Store, dataset: str, ds: str, name: str | None = None) -> pd.DataFrame:
    """One named Parquet file of a partition, or all its Parquet files concatenated."""
    import pandas as pd

    part = read_manifest(store, dataset, ds)
    names = [name] if name else sorted(n for n in part.files if n.endswith(".parquet"))
    if not names:
        raise LakeError(f"{dataset}/ds={ds} holds no Parquet file")
    frames = [pd.read_parquet(io.BytesIO(store.get(part.key(n)))) for n in names]
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
