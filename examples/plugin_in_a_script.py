"""A plugin defined in a script: a ``scratch://NAME`` database scheme.

Plugins usually live in their own distribution and are found through an
entry point (see docs/plugins.md). A plugin defined in a script or notebook
registers directly with the process's registry instead, and is then used by
name like any installed one.

``scratch://NAME`` hands out one in-memory database per name, so every part of
the script that opens ``scratch://results`` shares the same store.

    uv run python examples/plugin_in_a_script.py
"""

from __future__ import annotations

import pyarrow as pa

from orcapod.core import InMemoryArrowDatabase, open_database
from orcapod.core.plugins import default_registry
from orcapod.protocols.hooks import hookimpl


class ScratchDatabases:
    """Provides the ``scratch://`` scheme: one named in-memory database per name."""

    def __init__(self) -> None:
        self.databases: dict[str, InMemoryArrowDatabase] = {}

    def open(self, uri: str) -> InMemoryArrowDatabase:
        name = uri.removeprefix("scratch://")
        if not name:
            raise ValueError(f"{uri!r}: give the scratch database a name, e.g. scratch://results")
        return self.databases.setdefault(name, InMemoryArrowDatabase())

    @hookimpl
    def orcapod_database_schemes(self) -> dict[str, object]:
        return {"scratch": self.open}


def main() -> None:
    default_registry().register(ScratchDatabases(), "scratch", distribution="this script")

    writer = open_database("scratch://results")
    writer.add_records(
        ("trial", "scores"),
        pa.table({"subject": ["s1", "s2", "s3"], "score": [0.91, 0.47, 0.78]}),
        record_id_column="subject",
    )

    reader = open_database("scratch://results")
    print("same store:", reader is writer)
    print("paths:", reader.list_paths())
    best = reader.get_record_by_id(("trial", "scores"), "s1", record_id_column="subject")
    print("s1:", best.to_pylist() if best is not None else None)


if __name__ == "__main__":
    main()
