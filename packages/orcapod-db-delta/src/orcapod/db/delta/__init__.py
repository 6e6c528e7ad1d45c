"""orcapod.db.delta: Delta Lake storage for orcapod.

The ``delta://`` URI scheme is registered; ``DeltaTableDatabase`` itself is
not implemented in this release, and opening a ``delta://`` URI says so.
"""

__all__: list[str] = []
