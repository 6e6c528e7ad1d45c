"""The declared schema of RayExecutor's executor data: every key a ``str``.

orcapod-core's ``Schema`` is not available here (plugins never import core);
orcapod-protocols provides the small implementation every executor plugin shares.
"""

from __future__ import annotations

from orcapod.protocols.executors import StringSchema

__all__ = ["StringSchema"]
