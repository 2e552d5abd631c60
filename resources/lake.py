"""The hive-partitioned Parquet lake: <root>/<asset>/date=YYYY-MM-DD[/source=<name>]/part-0.parquet.

Each partition is exactly one file, so publishing is a single atomic rename
(local) or a single object PUT (S3): readers see the old file or the new one,
never half of either, and a re-run replaces rather than appends.
"""

from __future__ import annotations

import os
import shutil
import uuid
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Iterator
from urllib.parse import urlparse

import fsspec
import polars as pl
from dagster import ConfigurableResource
from pydantic import Field

from pipeline_assets.sources import check_name

PART = "part-0.parquet"


class LakeResource(ConfigurableResource):
    """Where stages read and write Parquet. `root` is any fsspec URL."""

    root: str = Field(default="data/lake", description="Lake root: a local path or an s3:// URL.")
    scratch_dir: str = Field(default="data/tmp", description="Local scratch space for files being written.")
    s3_endpoint_url: str | None = Field(default=None, description="S3-compatible endpoint (MinIO, moto).")

    # -- paths ---------------------------------------------------------------
    @property
    def is_local(self) -> bool:
        return urlparse(self.root).scheme in ("", "file")

    def _root(self) -> str:
        if self.is_local:
            return str(Path(self.root.removeprefix("file://")).resolve())
        return self.root.rstrip("/")

    def partition_dir(self, asset: str, day: date, source: str | None = None) -> str:
        check_name(asset, "asset name")
        parts = [self._root(), asset, f"date={day.isoformat()}"]
        if source is not None:
            parts.append(f"source={check_name(source)}")
        return "/".join(parts)

    def partition_file(self, asset: str, day: date, source: str | None = None) -> str:
        return f"{self.partition_dir(asset, day, source)}/{PART}"

    def upload_dir(self, asset: str, key: str) -> str:
        """An upload's directory: <root>/<asset>/upload=<key> (keys are name + content hash)."""
        check_name(asset, "asset name")
        if not key or "/" in key or key.startswith("."):
            raise ValueError(f"invalid upload key {key!r}")
        return f"{self._root()}/{asset}/upload={key}"

    def asset_glob(self, asset: str, levels: list[str]) -> str:
        """Every Parquet file of an asset whose partitions are the hive `levels`
        (e.g. ["date", "source"])."""
        check_name(asset, "asset name")
        return "/".join([self._root(), asset, *(f"{level}=*" for level in levels), "*.parquet"])

    # -- filesystem ----------------------------------------------------------
    def fs(self) -> fsspec.AbstractFileSystem:
        if self.is_local:
            return fsspec.filesystem("file")
        opts = {"client_kwargs": {"endpoint_url": self.s3_endpoint_url}} if self.s3_endpoint_url else {}
        return fsspec.filesystem(urlparse(self.root).scheme, **opts)

    def storage_options(self) -> dict[str, str] | None:
        """Options for Polars' native cloud readers."""
        if self.is_local:
            return None
        opts: dict[str, str] = {}
        if self.s3_endpoint_url:
            opts["aws_endpoint_url"] = self.s3_endpoint_url
            opts["aws_allow_http"] = "true" if self.s3_endpoint_url.startswith("http:") else "false"
        for env, key in (("AWS_ACCESS_KEY_ID", "aws_access_key_id"),
                         ("AWS_SECRET_ACCESS_KEY", "aws_secret_access_key"),
                         ("AWS_REGION", "aws_region"), ("AWS_DEFAULT_REGION", "aws_region")):
            if os.environ.get(env):
                opts.setdefault(key, os.environ[env])
        return opts

    def exists(self, asset: str, day: date, source: str | None = None) -> bool:
        return self.fs().exists(self.partition_file(asset, day, source))

    def scratch_file(self, suffix: str = ".parquet") -> Path:
        d = Path(self.scratch_dir).resolve()
        d.mkdir(parents=True, exist_ok=True)
        return d / f"{uuid.uuid4().hex}{suffix}"

    def publish(self, local_tmp: Path, asset: str, day: date, source: str | None = None, name: str = PART) -> str:
        """Move a finished local file into its partition (as `name`), replacing the old one atomically."""
        return self.publish_file(local_tmp, f"{self.partition_dir(asset, day, source)}/{name}")

    def publish_file(self, local_tmp: Path, target: str) -> str:
        """Move a finished local file to `target` (a lake URI), replacing the old one atomically."""
        if self.is_local:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            # Same filesystem as the scratch dir is not guaranteed: copy next to
            # the target first, then rename, so the final step is atomic.
            staged = Path(f"{target}.{uuid.uuid4().hex}.tmp")
            shutil.move(str(local_tmp), staged)
            os.replace(staged, target)
        else:
            # One PUT of the final key: S3 makes a completed object visible whole.
            self.fs().put_file(str(local_tmp), target)
            local_tmp.unlink(missing_ok=True)
        return target

    def keep_payload(self, local: Path, day: date, source: str, name: str) -> str:
        """Keep a gzip copy of a collected file under raw_payloads/, so the day can
        be re-parsed after the original is gone (inbox files are often moved)."""
        import gzip

        safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in name)[-120:] or "payload"
        tmp = self.scratch_file(".gz")
        with open(local, "rb") as src, gzip.open(tmp, "wb", compresslevel=3) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        return self.publish_file(tmp, f"{self.partition_dir('raw_payloads', day, source)}/{safe}.gz")

    def local_copy(self, uri: str, suffix: str = ".parquet") -> tuple[Path, bool]:
        """A local path for engines that cannot read the lake's URL scheme (DuckDB without httpfs).
        Returns (path, is_temporary)."""
        if self.is_local:
            return Path(uri), False
        tmp = self.scratch_file(suffix)
        self.fs().get_file(uri, str(tmp))
        return tmp, True

    @contextmanager
    def local_file(self, uri: str) -> Iterator[Path]:
        """`local_copy` as a context: a downloaded copy is removed afterwards."""
        path, temporary = self.local_copy(uri)
        try:
            yield path
        finally:
            if temporary:
                path.unlink(missing_ok=True)

    def parquet_rows(self, asset: str, day: date, source: str | None = None) -> int:
        import pyarrow.parquet as pq

        with self.local_file(self.partition_file(asset, day, source)) as p:
            return pq.ParquetFile(str(p)).metadata.num_rows

    def scan(self, asset: str, days: list[date], source: str | None = None,
             per_source: bool = True) -> pl.LazyFrame | None:
        """Lazily scan the given days (all sources unless `source`); None when nothing exists."""
        fs = self.fs()
        files: list[str] = []
        for day in days:
            if per_source and source is None:
                pattern = f"{self.partition_dir(asset, day)}/source=*/{PART}"
                found = sorted(fs.glob(pattern))
                files += [f if self.is_local else f"{urlparse(self.root).scheme}://{f}" for f in found]
            else:
                f = self.partition_file(asset, day, source)
                if fs.exists(f):
                    files.append(f)
        if not files:
            return None
        return pl.scan_parquet(files, hive_partitioning=False, storage_options=self.storage_options())
