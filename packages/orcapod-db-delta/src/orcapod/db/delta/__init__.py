"""orcapod.db.delta: Delta Lake storage for orcapod.

``DeltaTableDatabase(root)`` keeps each record path in its own Delta table
under ``root``; ``open_database("delta:///abs/path")`` opens one through the
plugin registry. ``DeltaTableSource`` reads an existing Delta table as an
orcapod source (a ``SourceTable`` of orcapod-protocols, which orcapod-core takes
wherever it takes a stream). Names are imported on first use, so importing
this package does not import deltalake; nothing here imports orcapod-core.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orcapod.protocols.lazy import lazy_exports

if TYPE_CHECKING:
    from orcapod.db.delta._database import DeltaTableDatabase as DeltaTableDatabase
    from orcapod.db.delta._source import DeltaTableSource as DeltaTableSource

__all__, __getattr__, __dir__ = lazy_exports(
    globals(),
    {
        "DeltaTableDatabase": "orcapod.db.delta._database",
        "DeltaTableSource": "orcapod.db.delta._source",
    },
)
