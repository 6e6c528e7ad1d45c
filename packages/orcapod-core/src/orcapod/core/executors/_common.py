"""What core's executors share: checking their options and handing records on."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orcapod.capture import capture

if TYPE_CHECKING:
    from collections.abc import Mapping

    from orcapod.protocols.observability import PacketExecutionLogger
    from orcapod.protocols.values import CaptureLevel

__all__ = ["changed_options", "check_capture_options", "checked_capture", "hand_on"]


def checked_capture(owner: str, level: object) -> CaptureLevel:
    """``level`` if it is a capture level.

    Raises:
        ValueError: naming ``owner``, the value and both levels.
    """
    if level not in ("sys", "fd"):
        raise ValueError(
            f"{owner} got capture={level!r}; use capture='sys' (Python-level output) or "
            "capture='fd' (file descriptors 1 and 2: C extensions and child processes too)"
        )
    return level


def check_capture_options(max_bytes: int, max_records: int) -> None:
    """Raise now, not at the first call, if capture would refuse these options.

    Raises:
        orcapod.capture.CaptureOptionError: naming the option and the value.
    """
    capture("sys", max_bytes=max_bytes, max_records=max_records)


def changed_options(
    owner: str, current: Mapping[str, Any], options: Mapping[str, Any]
) -> dict[str, Any]:
    """``current`` with ``options`` changed, for ``with_options``.

    Raises:
        TypeError: an option ``owner`` does not have, naming it and those it has.
    """
    unknown = sorted(set(options) - set(current))
    if unknown:
        raise TypeError(f"{owner} has no option {unknown[0]!r}; its options are {sorted(current)}")
    return {**current, **options}


def hand_on(logger: PacketExecutionLogger, fields: Mapping[str, Any]) -> None:
    """Give one attempt's record to ``logger`` (the dict is the logger's to keep)."""
    # A logger taking the fields as one mapping (an observer's own, or one that
    # fans them out or isolates them) is spared packing them into keywords.
    take = getattr(logger, "record_fields", None)
    if take is not None:
        take(fields)
    else:
        logger.record(**fields)
