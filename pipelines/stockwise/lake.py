"""The lake: one small interface over a local folder and `s3://bucket/prefix`.

A partition is `<dataset>/ds=<YYYY-MM-DD>/`. Its data files are content-addressed under
`v=<hash>/` and its `manifest.json` is written last: a reader that goes through the manifest
never sees a half-written partition, and a rerun that computes the same data leaves exactly the
same files (the version is the hash of the content). After the manifest is switched, older
versions are removed, except where `keep_history` is asked (raw extracts: the audit trail).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from stockwise.errors import LakeError

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


class LocalStore:
    """A folder. Each put is atomic (temporary file in the same folder, then rename)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self.url = str(self.root)

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
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

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
        return sorted(
            str(p.relative_to(self.root))
            for p in base.rglob("*")
            if p.is_file() and not p.name.startswith(".tmp-")
        )

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
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self._key(prefix)
        )
        for page in pages:
            out.extend(o["Key"][strip:] for o in page.get("Contents", []))
        return sorted(out)

    def delete(self, keys: Iterable[str]) -> None:
        batch = [{"Key": self._key(k)} for k in keys]
        for i in range(0, len(batch), 1000):
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch[i : i + 1000]})

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"


def open_lake(settings: Settings) -> Store:
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
            raise LakeError(
                f"{self.dataset}/ds={self.ds} has no file {name!r} (has {sorted(self.files)})"
            ) from e


def partition_prefix(dataset: str, ds: str) -> str:
    return f"{dataset.strip('/')}/ds={ds}"


def write_partition(
    store: Store,
    dataset: str,
    ds: str,
    files: dict[str, bytes],
    meta: dict[str, Any] | None = None,
    keep_history: bool = False,
) -> Partition:
    """Replace partition `dataset/ds=<ds>` with `files`: data first, manifest last, then clean up."""
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
    manifest = {"dataset": dataset, "ds": ds, "version": version, "files": entries, "meta": meta or {}}
    store.put(f"{prefix}/{MANIFEST}", json.dumps(manifest, indent=2, sort_keys=True).encode())
    if not keep_history:
        stale = [k for k in store.list(prefix + "/") if "/v=" in k and f"/v={version}/" not in k]
        if stale:
            store.delete(stale)
    log.info("wrote %s (%d files, version %s)", store.uri(prefix), len(files), version)
    return Partition(dataset, ds, version, entries, meta or {})


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
    buf = io.BytesIO()
    # microseconds: Spark (and most engines) cannot read pandas' default nanosecond timestamps
    df.to_parquet(buf, index=False, coerce_timestamps="us", allow_truncated_timestamps=True)
    return buf.getvalue()


def read_parquet(store: Store, dataset: str, ds: str, name: str | None = None) -> pd.DataFrame:
    """One named Parquet file of a partition, or all its Parquet files concatenated."""
    import pandas as pd

    part = read_manifest(store, dataset, ds)
    names = [name] if name else sorted(n for n in part.files if n.endswith(".parquet"))
    if not names:
        raise LakeError(f"{dataset}/ds={ds} holds no Parquet file")
    frames = [pd.read_parquet(io.BytesIO(store.get(part.key(n)))) for n in names]
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
