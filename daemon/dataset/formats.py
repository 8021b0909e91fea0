"""The data files, each written chunk by chunk as the rows stream in: memory stays flat.

Every writer takes ``Chunk``s and, on ``close``, says which files it wrote and how many rows
each holds. A split snapshot writes one file per part (``train.parquet``, ...) for the file
formats, and one DuckDB database whose ``pairs`` table has the ``split`` column (with a view
per part). ``abort`` lets go of open files when the snapshot fails, so the folder can go.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

import duckdb
import orjson
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from daemon.dataset.filters import Split
from daemon.dataset.rows import SPLIT_COLUMN, Chunk

DATA_STEM = "pairs"  # the file name of an unsplit snapshot's data
DUCKDB_TABLE = "pairs"
# nothing is fetched at run time (the machines are offline): no extension installed or loaded
DUCKDB_OFFLINE = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
# DuckDB's own cap: its buffers would otherwise grow toward 80% of the machine's memory
DUCKDB_MEMORY_LIMIT = "32MB"
_HAND_OVER_WAIT = 0.1  # seconds between looks at whether the DuckDB filler failed


@dataclass(frozen=True)
class Written:
    """One file a writer finished, named relative to the snapshot folder."""

    name: str
    rows: int


class Writer(Protocol):
    def write(self, chunk: Chunk) -> None: ...

    def close(self) -> list[Written]: ...

    def abort(self) -> None: ...


class OneFile:
    """Shared bookkeeping of a writer with one output file."""

    def __init__(self, folder: Path, name: str) -> None:
        self.path = folder / name
        self.name = name
        self.rows = 0

    def written(self) -> list[Written]:
        return [Written(self.name, self.rows)]


class ArrowFile(OneFile):
    """A file pyarrow writes batch by batch (Parquet, CSV): each chunk goes straight in."""

    _writer: pq.ParquetWriter | pa_csv.CSVWriter

    def write(self, chunk: Chunk) -> None:
        if len(chunk):
            self._writer.write_batch(chunk.batch)
            self.rows += len(chunk)

    def close(self) -> list[Written]:
        self._writer.close()
        return self.written()

    def abort(self) -> None:
        self._writer.close()


class ParquetFile(ArrowFile):
    """zstd-compressed Parquet; each chunk becomes a row group as it arrives."""

    def __init__(self, folder: Path, name: str, schema: pa.Schema) -> None:
        super().__init__(folder, name)
        self._writer = pq.ParquetWriter(self.path, schema, compression="zstd")


class CsvFile(ArrowFile):
    """RFC 4180: a header, CRLF line ends, text quoted (quotes doubled), null as nothing."""

    def __init__(self, folder: Path, name: str, schema: pa.Schema) -> None:
        super().__init__(folder, name)
        options = pa_csv.WriteOptions(eol="\r\n", quoting_style="needed")
        self._writer = pa_csv.CSVWriter(self.path, schema, write_options=options)


class LinesFile(OneFile):
    """A file of lines, opened at once and appended to as the chunks arrive."""

    def __init__(self, folder: Path, name: str) -> None:
        super().__init__(folder, name)
        self._file: IO[bytes] = self.path.open("wb")

    def close(self) -> list[Written]:
        self._file.close()
        return self.written()

    def abort(self) -> None:
        self._file.close()


class JsonLinesFile(LinesFile):
    """One JSON object a line, UTF-8; times as ISO 8601 (UTC, no offset), as stored."""

    def __init__(self, folder: Path, name: str, schema: pa.Schema) -> None:
        super().__init__(folder, name)

    def write(self, chunk: Chunk) -> None:
        if len(chunk):
            dumps = orjson.dumps
            self._file.write(b"".join(dumps(record) + b"\n" for record in chunk.records))
            self.rows += len(chunk)


class DuckDbFile(OneFile):
    """A DuckDB database: table ``pairs``, a view per split.

    The table is made by one ``CREATE TABLE AS`` reading the chunks' Arrow batches as they are
    handed over, on a thread of its own: one statement is one transaction at DuckDB's own
    pace, where an INSERT per chunk costs a transaction each and a file a third larger. The
    hand-over queue holds two batches, so memory stays flat whichever side is slower.
    """

    def __init__(self, folder: Path, name: str, schema: pa.Schema, split: Split | None) -> None:
        super().__init__(folder, name)
        self._split = split
        config: dict[str, str | bool | int | float | list[str]] = {
            **DUCKDB_OFFLINE,
            "memory_limit": DUCKDB_MEMORY_LIMIT,
            "threads": 1,
        }
        self._db = duckdb.connect(str(self.path), config=config)
        self._queue: queue.Queue[pa.RecordBatch | None] = queue.Queue(maxsize=2)
        self._failed: BaseException | None = None
        self._ended = False
        batches = pa.RecordBatchReader.from_batches(schema, self._handed_over())
        self._filler = threading.Thread(
            target=self._fill, args=(batches,), name="snapshot-duckdb", daemon=True
        )
        self._filler.start()

    def _handed_over(self) -> Iterator[pa.RecordBatch]:
        while (batch := self._queue.get()) is not None:
            yield batch

    def _fill(self, batches: pa.RecordBatchReader) -> None:
        try:
            self._db.register("snapshot_batches", batches)
            self._db.execute(f"CREATE TABLE {DUCKDB_TABLE} AS SELECT * FROM snapshot_batches")
        except BaseException as exc:  # said by the next write or close, on the main thread
            self._failed = exc

    def _hand_over(self, batch: pa.RecordBatch | None) -> None:
        """Give the filler a batch (None: the end), unless it has failed: then say why."""
        while True:
            if self._failed is not None:
                raise self._failed
            if not self._filler.is_alive():
                return
            try:
                self._queue.put(batch, timeout=_HAND_OVER_WAIT)
                return
            except queue.Full:
                continue

    def write(self, chunk: Chunk) -> None:
        if len(chunk):
            self._hand_over(chunk.batch)
            self.rows += len(chunk)

    def _end(self) -> None:
        if not self._ended:
            self._ended = True
            self._hand_over(None)
            self._filler.join()

    def close(self) -> list[Written]:
        self._end()
        if self._failed is not None:
            raise self._failed
        if self._split is not None:
            for part in self._split.names():  # identifiers (parse_split): safe to quote
                self._db.execute(
                    f'CREATE VIEW "{part}" AS SELECT * FROM {DUCKDB_TABLE} '
                    f"WHERE {SPLIT_COLUMN} = '{part}'"
                )
        self._db.execute("CHECKPOINT")
        self._db.close()
        return self.written()

    def abort(self) -> None:
        try:
            self._end()
        finally:
            self._db.close()


class _FileFormat(Protocol):
    def __call__(self, folder: Path, name: str, schema: pa.Schema) -> Writer: ...


class SplitFiles:
    """One file per part of the split, each given only its own rows."""

    def __init__(
        self, folder: Path, extension: str, schema: pa.Schema, split: Split, make: _FileFormat
    ) -> None:
        self._parts = {part: make(folder, f"{part}.{extension}", schema) for part in split.names()}

    def write(self, chunk: Chunk) -> None:
        assert chunk.splits is not None  # a split snapshot's chunks always carry them
        rows_of: dict[str, list[int]] = {part: [] for part in self._parts}
        for i, part in enumerate(chunk.splits):
            rows_of[part].append(i)
        for part, keep in rows_of.items():
            if keep:
                self._parts[part].write(chunk.only(keep))

    def close(self) -> list[Written]:
        return [written for part in self._parts.values() for written in part.close()]

    def abort(self) -> None:
        for part in self._parts.values():
            part.abort()


_FILE_FORMATS: dict[str, tuple[str, _FileFormat]] = {
    "parquet": ("parquet", ParquetFile),
    "jsonl": ("jsonl", JsonLinesFile),
    "csv": ("csv", CsvFile),
}
DATA_FORMATS = (*_FILE_FORMATS, "duckdb")


def data_writer(fmt: str, folder: Path, schema: pa.Schema, split: Split | None) -> Writer:
    """The writer of one data format (``DATA_FORMATS``) into ``folder``."""
    if fmt == "duckdb":
        return DuckDbFile(folder, f"{DATA_STEM}.duckdb", schema, split)
    extension, make = _FILE_FORMATS[fmt]
    if split is None:
        return make(folder, f"{DATA_STEM}.{extension}", schema)
    return SplitFiles(folder, extension, schema, split, make)
