"""Arrow's memory pool for pipeline runs: jemalloc in place of mimalloc, where pyarrow has it."""

from __future__ import annotations

import os

import pyarrow as pa

__all__ = ["prefer_jemalloc"]

_POOL_VARIABLE = "ARROW_DEFAULT_MEMORY_POOL"

_asked = False


def prefer_jemalloc() -> None:
    """Make jemalloc Arrow's default memory pool, once per process, where mimalloc is.

    Why: pyarrow's default on Linux is mimalloc, which every few hundred small
    allocations of a run (a checkpoint's rows, an observer's rows turned into
    Arrow) stalls for about 6 ms. With jemalloc, a run of 100,000 packets was
    15 to 20 % faster on every store, with and without observers, and its peak
    memory lower (see docs/performance.md).

    Left alone: a pool named by ``ARROW_DEFAULT_MEMORY_POOL`` (read by pyarrow at
    import; ``ARROW_DEFAULT_MEMORY_POOL=mimalloc`` keeps mimalloc); a pool other
    than mimalloc set with ``pyarrow.set_memory_pool``; a pyarrow built without
    jemalloc (Windows wheels). A mimalloc pool the program set itself, or a
    proxy over one, cannot be told from pyarrow's default and is replaced: name
    it in the environment to keep it. Buffers allocated before the switch are
    freed by the pool that made them.
    """
    global _asked
    if _asked:
        return
    _asked = True
    if os.environ.get(_POOL_VARIABLE) or pa.default_memory_pool().backend_name != "mimalloc":
        return
    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:  # this pyarrow has no jemalloc
        return
    pa.set_memory_pool(pool)
