"""A call's exception made ready to cross to another process (a worker's answer)."""

from __future__ import annotations

import pickle
from typing import TYPE_CHECKING, Any

from orcapod.capture._buffer import bound_text

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["pickled_exception"]

MESSAGE_BYTES = 4096
"""Bytes of an exception's message kept in the description that travels with it."""


def pickled_exception(
    error: BaseException,
    max_bytes: int,
    *,
    dumps: Callable[[Any], bytes] = pickle.dumps,
) -> tuple[bytes | None, str]:
    """``error`` pickled for another process, and its description.

    The pickle is checked to load again here, so that an exception whose class
    cannot be rebuilt (required arguments its ``args`` lack, a lock among its
    attributes) is known now rather than where it is read.

    Args:
        max_bytes: the most UTF-8 bytes of the description (head and tail kept).
        dumps: the pickler (``cloudpickle.dumps`` sends classes of ``__main__``).

    Returns:
        The pickle, or None when ``error`` does not round-trip; and
        ``module.Type: message`` (with, when there is no pickle, why).
    """
    kind = type(error)
    text = bound_text(f"{kind.__module__}.{kind.__qualname__}: {_message(error)}", max_bytes)
    try:
        blob = dumps(error)
        pickle.loads(blob)
    except Exception as why:  # an exception that does not round-trip: send its text
        return None, f"{text} (not sent back as itself: {type(why).__name__}: {_message(why)})"
    return blob, text


def _message(error: BaseException) -> str:
    """``str(error)``, or why there is none (a ``__str__`` that raises)."""
    try:
        return bound_text(str(error), MESSAGE_BYTES)
    except Exception as why:
        return f"<str() of the exception failed: {type(why).__name__}>"
