"""Executors built into orcapod-core: where and how packet functions run."""

from __future__ import annotations

from orcapod.core.executors._local import LocalExecutor

__all__ = ["LocalExecutor"]
