"""The per-packet scratch directory a function writes its output files into."""

from __future__ import annotations

import functools
import shutil
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from orcapod.core.errors import OrcapodError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["WithScratch", "scratch_dir"]

_SCRATCH: ContextVar[Path | None] = ContextVar("orcapod_scratch_dir", default=None)


def scratch_dir() -> Path:
    """The scratch directory of the packet being computed (created on first use).

    A function that returns a ``File`` or ``Directory`` writes it here; when it
    returns, orcapod moves what it returned into the pipeline's file store and
    removes the directory with whatever else is left in it. Each packet (and
    each retried attempt) gets an empty one.

    Raises:
        OrcapodError: called outside a function orcapod runs, or in a function
            whose return annotation has no ``File`` or ``Directory``.
    """
    path = _SCRATCH.get()
    if path is None:
        raise OrcapodError(
            "scratch_dir() is only available while orcapod runs a function that returns a "
            "File or Directory (annotate the return value so); elsewhere use the tempfile module"
        )
    path.mkdir(parents=True, exist_ok=True)
    return path


class WithScratch:
    """A function called with a fresh scratch directory (what :func:`scratch_dir` returns).

    Picklable, so that it runs where the function runs (a thread, a Ray worker
    on the same machine, or one sharing the file store's filesystem).
    """

    def __init__(self, function: Any, scratch: Path) -> None:
        functools.update_wrapper(self, function)
        self.function = function
        self.scratch = scratch

    def __reduce__(self) -> tuple[Any, ...]:
        # Only the function and the directory: the wrapped function's attributes
        # (copied by update_wrapper, its ``pod`` among them) need not travel.
        return WithScratch, (self.function, self.scratch)

    def __call__(self, **kwargs: Any) -> Any:
        if self.scratch.exists():  # what an earlier attempt left
            shutil.rmtree(self.scratch, ignore_errors=True)
        token = _SCRATCH.set(self.scratch)
        try:
            return self.function(**kwargs)
        finally:
            _SCRATCH.reset(token)
