"""A writer process for :class:`DurableArrowDatabaseContract`: opens a store and writes to it.

Its :func:`main` takes ``OPENER ARGUMENT MODE ...``, where ``OPENER`` is
``"package.module:callable"`` and ``callable(ARGUMENT)`` opens the store. It
reports progress on stdout, one line per step, flushed at once, so the test
driving it knows when it is inside a flush:

- ``batches PREFIX COUNT ROWS``: ``COUNT`` flushes of ``ROWS`` new records each,
  ids ``PREFIX-<batch>-<row>``; prints ``flushing <batch>`` before and
  ``flushed <batch>`` after each flush.
- ``ids WRITER FIRST LAST STEP BATCH``: records ``id-<n>`` for ``n`` from
  ``FIRST`` to ``LAST`` (inclusive, by ``STEP``: 1 or -1), ``BATCH`` per flush,
  added with ``skip_duplicates=True``; each record's ``writer`` column is
  ``WRITER``; prints ``ready`` once the store is open and waits for a line on
  stdin before writing (so two writers can be started together), then
  ``flushed <count>`` after each flush.

Both print ``done`` after closing the store.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING

import pyarrow as pa

if TYPE_CHECKING:
    from collections.abc import Sequence

    from orcapod.protocols.database import ArrowDatabase

ID = "record_id"
PATH = ("durable", "records")
PAYLOAD = "x" * 200
"""Makes each row a few hundred bytes, so a flush takes long enough to be interrupted."""


def open_store(opener: str, argument: str) -> ArrowDatabase:
    """Call the ``"package.module:callable"`` named by ``opener`` with ``argument``."""
    module_name, _, name = opener.partition(":")
    if not module_name or not name:
        raise SystemExit(f"opener {opener!r} must look like 'package.module:callable'")
    factory = getattr(importlib.import_module(module_name), name)
    database: ArrowDatabase = factory(argument)
    return database


def batch_records(prefix: str, batch: int, rows: int) -> pa.Table:
    """The records of one flush of the ``batches`` mode."""
    return pa.table(
        {
            ID: pa.array(
                [f"{prefix}-{batch:04d}-{row:05d}" for row in range(rows)], pa.large_string()
            ),
            "batch": pa.array([batch] * rows, pa.int64()),
            "payload": pa.array([PAYLOAD] * rows, pa.large_string()),
        }
    )


def id_records(writer: int, numbers: Sequence[int]) -> pa.Table:
    """The records of one flush of the ``ids`` mode."""
    return pa.table(
        {
            ID: pa.array([f"id-{n:06d}" for n in numbers], pa.large_string()),
            "writer": pa.array([writer] * len(numbers), pa.int64()),
        }
    )


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(argv: Sequence[str]) -> None:
    opener, argument, mode, *options = argv
    database = open_store(opener, argument)
    if mode == "batches":
        prefix, count, rows = options[0], int(options[1]), int(options[2])
        for batch in range(count):
            database.add_records(PATH, batch_records(prefix, batch, rows), ID)
            _say(f"flushing {batch}")
            database.flush()
            _say(f"flushed {batch}")
    elif mode == "ids":
        writer, first, last, step, size = (int(option) for option in options)
        numbers = list(range(first, last + step, step))
        _say("ready")
        sys.stdin.readline()
        for start in range(0, len(numbers), size):
            chunk = numbers[start : start + size]
            database.add_records(PATH, id_records(writer, chunk), ID, skip_duplicates=True)
            database.flush()
            _say(f"flushed {start + len(chunk)}")
    else:
        raise SystemExit(f"unknown mode {mode!r}; use 'batches' or 'ids'")
    database.close()
    _say("done")
