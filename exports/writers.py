"""Table files of a release: Parquet written batch by batch (one row group each) and JSON Lines,
from the same frames (or, for the small models table, row tuples); the random sample; the
SHA256SUMS file.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import mmap
import os
from pathlib import Path

import numpy as np
import orjson
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from .schema import Table

BATCH_ROWS = 10_000  # battles read and written at a time (a row group of each battle table)
# String columns whose values repeat from row to row: worth a Parquet dictionary.
REPEATED = {
    "mode",
    "language",
    "choice",
    "side",
    "outcome",
    "method",
    "winner",
    "chosen_model_name",
    *(f"model_{side}{suffix}" for side in "ab" for suffix in ("", "_name", "_license_kind")),
    "model",
    "refers_to_model",
    *(f"energy_method_{side}" for side in "ab"),
}
JSONL_OPTIONS = orjson.OPT_APPEND_NEWLINE | orjson.OPT_UTC_Z


def table_path(table: Table, fmt: str) -> str:
    return f"{table.name}/{table.name}.{fmt}"


# O_DIRECT wants its buffers, sizes and offsets aligned on the device's blocks: 4 KiB covers
# the 512-byte and 4 KiB ones.
_BLOCK = 4096
_STAGED = 1 << 20  # bytes gathered before each direct write (ten files open: 10 MiB)


class HashingFile:
    """A file written once, front to back, whose SHA-256 is computed on the way (the release's
    files are not read again for SHA256SUMS).

    Written around the page cache (O_DIRECT) where the filesystem allows it: a release writes
    gigabytes that nothing reads back soon, and on this project's machine copying them into the
    page cache cost 1.25 s of CPU per GB against 0.1 s direct (`dd`, 4 GiB). The bytes gather in
    an aligned buffer and go out 1 MiB at a time; the last partial block is written once O_DIRECT
    is off. Where the filesystem refuses O_DIRECT (tmpfs, some network filesystems), or the system
    has none, an ordinary file."""

    def __init__(self, path: Path):
        self._sha = hashlib.sha256()
        self.digest: str | None = None
        self._size = 0
        self._fh = None
        self._fd = _open_direct(path)
        if self._fd is None:
            self._fh = open(path, "wb")
        else:
            self._staged = mmap.mmap(-1, _STAGED)  # page-aligned
            self._used = 0
        self.closed = False

    def write(self, data) -> int:
        data = memoryview(data).cast("B")
        self._sha.update(data)
        self._size += len(data)
        if self._fh is not None:
            self._fh.write(data)
            return len(data)
        done = 0
        while done < len(data):
            take = min(len(data) - done, _STAGED - self._used)
            self._staged[self._used : self._used + take] = data[done : done + take]
            self._used += take
            done += take
            if self._used == _STAGED:
                self._write_out(memoryview(self._staged))
                self._used = 0
        return len(data)

    def _write_out(self, view: memoryview) -> None:
        while len(view):
            try:
                written = os.write(self._fd, view)
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                self._no_longer_direct()  # the filesystem took the flag but not the write
                continue
            view = view[written:]

    def _no_longer_direct(self) -> None:
        flags = fcntl.fcntl(self._fd, fcntl.F_GETFL)
        if not flags & os.O_DIRECT:
            raise OSError(errno.EINVAL, "write refused without O_DIRECT too")
        fcntl.fcntl(self._fd, fcntl.F_SETFL, flags & ~os.O_DIRECT)

    def tell(self) -> int:
        return self._size

    def flush(self) -> None:
        if self._fh is not None:
            self._fh.flush()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._fh is not None:
            self._fh.close()
        else:
            try:
                whole = self._used - self._used % _BLOCK
                self._write_out(memoryview(self._staged)[:whole])
                if self._used > whole:
                    self._no_longer_direct()
                    self._write_out(memoryview(self._staged)[whole : self._used])
            finally:
                os.close(self._fd)
                self._staged.close()
        self.digest = self._sha.hexdigest()


def _open_direct(path: Path) -> int | None:
    if not hasattr(os, "O_DIRECT"):
        return None
    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_DIRECT, 0o644)
    except OSError as exc:
        if exc.errno == errno.EINVAL:
            return None
        raise


class TableWriter:
    """Rows in, files out: nothing but the current batch is held in memory."""

    def __init__(self, table: Table, out_dir: Path, formats, batch_rows: int | None = None):
        self.table = table
        self.rows = 0
        self.paths = [table_path(table, fmt) for fmt in formats]
        self._batch: list[tuple] = []
        self._batch_rows = batch_rows or BATCH_ROWS
        (out_dir / table.name).mkdir(parents=True, exist_ok=True)
        self.files = {fmt: HashingFile(out_dir / table_path(table, fmt)) for fmt in formats}
        self._parquet = (
            # Dictionary pages only for the columns that repeat (models, modes...): building one
            # for each text column, to drop it as too large, cost more than the rest of the write.
            pq.ParquetWriter(
                self.files["parquet"],
                table.schema,
                compression="zstd",
                use_dictionary=[c.name for c in table.columns if c.type == pa.string() and c.name in REPEATED],
            )
            if "parquet" in formats
            else None
        )
        self._jsonl = self.files.get("jsonl")

    @property
    def digests(self) -> dict[str, str]:
        """{path: SHA-256} of the files, once closed."""
        return {table_path(self.table, fmt): file.digest for fmt, file in self.files.items()}

    def add_frame(self, frame: pl.DataFrame) -> None:
        """A batch of rows as a frame with the table's columns, written at once."""
        self.flush()
        if not frame.height:
            return
        if self._parquet is not None:
            self._parquet.write_table(arrow_table(self.table, frame))
        if self._jsonl is not None:
            write_jsonl(frame, self._jsonl)
        self.rows += frame.height

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
        for file in self.files.values():
            file.close()


def record_batch(table: Table, rows: list[tuple]) -> pa.RecordBatch:
    columns = zip(*rows, strict=True)
    arrays = [pa.array(values, type=column.type) for values, column in zip(columns, table.columns, strict=True)]
    return pa.RecordBatch.from_arrays(arrays, schema=table.schema)


def arrow_table(table: Table, frame: pl.DataFrame) -> pa.Table:
    return frame.to_arrow(compat_level=pl.CompatLevel.oldest()).cast(table.schema)


def write_jsonl(frame: pl.DataFrame, fh) -> None:
    """JSON Lines as the row path writes them: times in UTC ISO 8601 with a Z."""
    times = [name for name, dtype in frame.schema.items() if isinstance(dtype, pl.Datetime)]
    frame.with_columns(pl.col(times).dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ")).write_ndjson(fh)


def jsonl(table: Table, rows: list[tuple]) -> bytes:
    names = table.names
    return b"".join(orjson.dumps(dict(zip(names, row, strict=True)), option=JSONL_OPTIONS) for row in rows)


# The column holding a battle's conversation id, in each battle table.
BATTLE_KEY = {
    "conversations": "id",
    "votes": "conversation_pair_id",
    "reactions": "conversation_pair_id",
    "energy": "conversation_pair_id",
    "arena_battles": "question_id",
}


class Sample:
    """The rows of `size` battles drawn uniformly at random, in every table: a sample that holds a
    vote also holds its conversation. Each battle draws a random key and the `size` smallest keys
    win (bottom-k sampling), so memory is bounded by `size`."""

    def __init__(self, size: int, seed: int | None = None):
        self.size = size
        self._rng = np.random.default_rng(seed)
        self._seen = 0
        self._keys = pl.DataFrame(schema={"id": pl.String, "u": pl.Float64, "seq": pl.Int64})
        self._kept: dict[str, pl.DataFrame] = {}

    def offer(self, frames: dict[str, pl.DataFrame]) -> None:
        """A chunk's published battles, as their tables' frames."""
        ids = frames["conversations"]["id"]
        if self.size <= 0 or not len(ids):
            return
        drawn = pl.DataFrame(
            {"id": ids, "u": self._rng.random(len(ids)), "seq": np.arange(self._seen, self._seen + len(ids))}
        )
        self._seen += len(ids)
        self._keys = pl.concat([self._keys, drawn]).sort("u").head(self.size)
        chosen = self._keys.select("id")
        for name, frame in frames.items():
            kept = pl.concat([self._kept[name], frame]) if name in self._kept else frame
            self._kept[name] = kept.join(
                chosen, left_on=BATTLE_KEY[name], right_on="id", how="semi", maintain_order="left"
            )

    def write(self, tables: list[Table], out_dir: Path) -> list[tuple[str, int]]:
        """samples/<table>.jsonl for each table, rows in release order: [(path, rows)]."""
        written = []
        (out_dir / "samples").mkdir(exist_ok=True)
        order = self._keys.select("id", "seq")
        for table in tables:
            path = f"samples/{table.name}.jsonl"
            frame = self._kept.get(table.name)
            with open(out_dir / path, "wb") as fh:
                if frame is not None and frame.height:
                    key = BATTLE_KEY[table.name]
                    frame = (
                        frame.with_row_index("_row")
                        .join(order, left_on=key, right_on="id", how="left", coalesce=False)
                        .sort("seq", "_row")
                        .select(table.names)
                    )
                    write_jsonl(frame, fh)
            written.append((path, frame.height if frame is not None else 0))
        return written


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def write_checksums(out_dir: Path, paths: list[str], known: dict[str, str] | None = None) -> dict[str, str]:
    """SHA256SUMS in `sha256sum` format (`sha256sum -c SHA256SUMS` checks a download); `known`
    gives the digests computed while writing."""
    known = known or {}
    sums = {path: known.get(path) or sha256_of(out_dir / path) for path in sorted(paths)}
    (out_dir / "SHA256SUMS").write_text("".join(f"{digest}  {path}\n" for path, digest in sums.items()))
    return sums
