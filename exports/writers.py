"""Table files of a release: Parquet written batch by batch (one row group each) and JSON Lines,
from the same row tuples; the random sample; the SHA256SUMS file.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from .schema import Table

BATCH_ROWS = 10_000
JSONL_OPTIONS = orjson.OPT_APPEND_NEWLINE | orjson.OPT_UTC_Z


def table_path(table: Table, fmt: str) -> str:
    return f"{table.name}/{table.name}.{fmt}"


class TableWriter:
    """Rows in, files out: nothing but the current batch is held in memory."""

    def __init__(self, table: Table, out_dir: Path, formats, batch_rows: int | None = None):
        self.table = table
        self.rows = 0
        self.paths = [table_path(table, fmt) for fmt in formats]
        self._batch: list[tuple] = []
        self._batch_rows = batch_rows or BATCH_ROWS
        (out_dir / table.name).mkdir(parents=True, exist_ok=True)
        self._parquet = (
            pq.ParquetWriter(out_dir / table_path(table, "parquet"), table.schema, compression="zstd")
            if "parquet" in formats
            else None
        )
        self._jsonl = open(out_dir / table_path(table, "jsonl"), "wb") if "jsonl" in formats else None

    def add(self, rows: list[tuple]) -> None:
        self._batch.extend(rows)
        if len(self._batch) >= self._batch_rows:
            self.flush()

    def flush(self) -> None:
        if not self._batch:
            return
        if self._parquet is not None:
            self._parquet.write_batch(record_batch(self.table, self._batch))
        if self._jsonl is not None:
            self._jsonl.write(jsonl(self.table, self._batch))
        self.rows += len(self._batch)
        self._batch = []

    def close(self) -> None:
        self.flush()
        if self._parquet is not None:
            self._parquet.close()
        if self._jsonl is not None:
            self._jsonl.close()


def record_batch(table: Table, rows: list[tuple]) -> pa.RecordBatch:
    columns = zip(*rows, strict=True)
    arrays = [pa.array(values, type=column.type) for values, column in zip(columns, table.columns, strict=True)]
    return pa.RecordBatch.from_arrays(arrays, schema=table.schema)


def jsonl(table: Table, rows: list[tuple]) -> bytes:
    names = table.names
    return b"".join(orjson.dumps(dict(zip(names, row, strict=True)), option=JSONL_OPTIONS) for row in rows)


class Sample:
    """The rows of `size` battles drawn uniformly at random (reservoir sampling), in every table:
    a sample that holds a vote also holds its conversation. Memory is bounded by `size`."""

    def __init__(self, size: int, seed: int | None = None):
        self.size = size
        self._seen = 0
        self._kept: list[tuple[int, dict]] = []
        self._rng = random.Random(seed)

    def offer(self, rows_by_table: dict[str, list[tuple]]) -> None:
        if self.size <= 0:
            return
        self._seen += 1
        entry = (self._seen, rows_by_table)
        if len(self._kept) < self.size:
            self._kept.append(entry)
            return
        slot = self._rng.randrange(self._seen)
        if slot < self.size:
            self._kept[slot] = entry

    def write(self, tables: list[Table], out_dir: Path) -> list[tuple[str, int]]:
        """samples/<table>.jsonl for each table, rows in release order: [(path, rows)]."""
        written = []
        (out_dir / "samples").mkdir(exist_ok=True)
        kept = sorted(self._kept, key=lambda entry: entry[0])
        for table in tables:
            rows = [row for _, bundle in kept for row in bundle.get(table.name, ())]
            path = f"samples/{table.name}.jsonl"
            (out_dir / path).write_bytes(jsonl(table, rows))
            written.append((path, len(rows)))
        return written


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def write_checksums(out_dir: Path, paths: list[str]) -> dict[str, str]:
    """SHA256SUMS in `sha256sum` format (`sha256sum -c SHA256SUMS` checks a download)."""
    sums = {path: sha256_of(out_dir / path) for path in sorted(paths)}
    (out_dir / "SHA256SUMS").write_text("".join(f"{digest}  {path}\n" for path, digest in sums.items()))
    return sums
