"""The root of every error orcapod raises, shared by core and plugins.

Plugins raise these without importing ``orcapod.core``; core's own exception
module (``orcapod.core.errors``) subclasses them.
"""

from __future__ import annotations

__all__ = [
    "DatabaseError",
    "DuplicateRecordError",
    "InvalidRecordPathError",
    "NotAvailableError",
    "OrcapodError",
    "PacketCancelled",
    "RecordSchemaError",
    "SourceError",
    "StoreCorruptedError",
    "StoreNotCreatableError",
    "StoreNotFoundError",
]


class OrcapodError(Exception):
    """Base class of every error raised by orcapod and its plugins."""


class NotAvailableError(OrcapodError, NotImplementedError):
    """A registered capability exists by name but cannot be used in this release."""


class SourceError(OrcapodError, ValueError):
    """A source cannot be made from what it was given (a file, a table, rows, record ids).

    Raised by orcapod-core's sources and by plugins' ``SourceTable`` objects
    alike, so one ``except SourceError`` catches both.
    """


class DatabaseError(OrcapodError):
    """A storage backend refused or failed an operation."""


class InvalidRecordPathError(DatabaseError, ValueError):
    """A record path is empty or has a component that is unsafe as a table or file name."""


class DuplicateRecordError(DatabaseError):
    """A record id is already stored at a path and duplicates were not to be skipped."""


class RecordSchemaError(DatabaseError, TypeError):
    """Records added to a path do not fit the schema already stored there."""


class StoreNotFoundError(DatabaseError):
    """A store opened with ``create=False`` does not exist; nothing was created.

    Raised by ``open_database(uri, create=False)`` (and so by the read-only
    commands, ``orcapod runs``, ``orcapod verify``, ...) for a missing SQLite
    file, Delta root directory or PostgreSQL database.
    """


class StoreNotCreatableError(StoreNotFoundError):
    """No store exists there, and opening it to write would not make one either.

    ``memory://`` (an in-memory store lives only in its own process), a
    SQLite path that is a directory, a Delta root that is a file, or a
    PostgreSQL database the server lacks (a run does not create databases). A
    :class:`StoreNotFoundError`, so code catching that catches this too; what
    waits for a run to create the store (``orcapod logs --follow``) reports
    it at once instead.
    """


class StoreCorruptedError(DatabaseError):
    """What a store holds on disk cannot be read as what orcapod wrote there.

    A data file deleted or overwritten, a log entry or a JSON value garbled, a
    table dropped or altered by another program. The message names the table
    or file and how to repair it; pending records of a failed flush are kept.
    """


class PacketCancelled(BaseException):
    """A packet in flight was stopped because the run stopped (``fail_fast``, or a signal).

    Passed to ``ExecutionObserver.on_packet_crash`` for such a packet: the
    packet did not fail, it was cancelled (status ``CANCELLED``). A
    ``BaseException``, like ``asyncio.CancelledError``, so that ``except
    Exception`` in user code never swallows it.
    """
