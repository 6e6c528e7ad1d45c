"""orcapod.executors.ray: run orcapod function pods on a Ray cluster.

The ``ray`` executor is registered; ``RayExecutor`` itself is not implemented
in this release, and asking for it says so.
"""

__all__: list[str] = []
