"""``orcapod compact URI [--retention-hours H]``: keep a store's reads fast after many
small commits, on stores that offer it (Delta); a store without it is told apart.

The store's optional ``compact`` (see :class:`orcapod.protocols.database.ArrowDatabase`)
rewrites each table into few files, checkpoints its log, and deletes the files
no version younger than the retention uses. Safe while others read; not while a
run writes.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from orcapod.core.errors import OrcapodError
from orcapod.protocols.database import DEFAULT_RETENTION_HOURS
from orcapod.protocols.text import escape_control, print_table

if TYPE_CHECKING:
    import argparse

    from orcapod.protocols.hooks import CliHost

__all__ = ["CompactCommand"]


class CompactCommand:
    """``orcapod compact URI [--retention-hours H]``."""

    help = (
        "rewrite a store's tables into few files and delete files older versions no longer "
        "need (Delta); run it while no run writes to the store"
    )

    def __init__(self, host: CliHost) -> None:
        self.host = host

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("uri", metavar="URI", help="the store, e.g. delta://./orcapod-data")
        parser.add_argument(
            "--retention-hours",
            metavar="H",
            type=_hours,
            default=DEFAULT_RETENTION_HOURS,
            help=(
                "keep the files that table versions of the last H hours read, so readers "
                f"of those versions keep working (default {DEFAULT_RETENTION_HOURS}, a week; "
                "0 deletes every file the latest versions do not use)"
            ),
        )

    def run(self, args: argparse.Namespace) -> int:
        """0: compacted (or nothing to do); 1: the store could not be opened or compacted."""
        try:
            database = self.host.open_database(args.uri, create=False)
        except (OrcapodError, ValueError, OSError, ImportError) as error:
            return _fail(f"cannot open {args.uri!r}: {error}")
        try:
            compact = getattr(database, "compact", None)
            if compact is None:
                print(
                    escape_control(
                        f"{args.uri}: this kind of store has nothing to compact (its reads do "
                        "not slow down as writes accumulate)"
                    )
                )
                return 0
            done = compact(retention_hours=args.retention_hours)
        except OrcapodError as error:
            return _fail(str(error))
        finally:
            database.close()
        rows = [
            [
                "/".join(item.path),
                str(item.files_before),
                str(item.files_after),
                str(item.files_deleted),
            ]
            for item in done
        ]
        if rows:
            print_table(["path", "files before", "files after", "files deleted"], rows)
        deleted = sum(item.files_deleted for item in done)
        print(
            f"compacted {len(done)} table(s); deleted {deleted} file(s) that no version of the "
            f"last {args.retention_hours} hour(s) uses"
        )
        return 0


def _hours(text: str) -> int:
    """A whole number of hours, 0 or more."""
    import argparse

    try:
        hours = int(text)
    except ValueError:
        hours = -1
    if hours < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of hours (0 or more)")
    return hours


def _fail(message: str) -> int:
    one_line = " ".join(line.strip() for line in message.splitlines() if line.strip())
    print(f"orcapod compact: error: {one_line}", file=sys.stderr)
    return 1
