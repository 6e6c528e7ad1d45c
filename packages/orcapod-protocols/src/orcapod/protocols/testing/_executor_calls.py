"""The user functions :class:`~orcapod.protocols.testing.ExecutorContract` runs through executors.

Kept apart from the contract, importing only the standard library, so that an
executor running them elsewhere (a Ray worker, a child process) imports them by
name without needing pytest or pyarrow there.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

__all__ = [
    "USER_LOGGER",
    "ContractError",
    "ContractStop",
    "combine",
    "echo",
    "exits",
    "fails",
    "fails_on_multiples_of_three",
    "interrupts",
    "marker",
    "meets_the_others",
    "noisy",
    "stops",
]

USER_LOGGER = "orcapod.contract.user"
"""The name of the logger the user functions log to."""

_LOG = logging.getLogger(USER_LOGGER)


class ContractError(Exception):
    """An ordinary error of user code."""


class ContractStop(BaseException):
    """A ``BaseException`` of user code that is neither ``SystemExit`` nor ``KeyboardInterrupt``."""


def marker(x: int) -> str:
    """The text packet ``x`` prints: no packet's marker is a part of another's."""
    return f"[packet {x}]"


def combine(x: int, factor: int, label: str) -> tuple[int, str]:
    """A value depending on every argument, each taken by its name."""
    return x * factor, f"{label}-{x}"


def echo(value: Any) -> Any:
    """``value`` itself."""
    return value


def noisy(x: int) -> int:
    """Prints to stdout and stderr and logs a warning, each naming the packet."""
    print(f"stdout {marker(x)}")
    print(f"stderr {marker(x)}", file=sys.stderr)
    _LOG.warning("warning %s", marker(x))
    return x + 1


def fails(x: int) -> int:
    """Prints and logs, then raises :class:`ContractError`."""
    print(f"before the error {marker(x)}")
    _LOG.error("giving up on %s", marker(x))
    raise ContractError(f"bad input {x}")


def fails_on_multiples_of_three(x: int) -> int:
    """Raises for 0, 3, 6, ...; squares the others."""
    print(marker(x))
    if x % 3 == 0:
        raise ContractError(f"bad input {x}")
    return x * x


def exits(x: int) -> int:
    """Prints, then calls ``sys.exit(3)``."""
    print(f"exiting {marker(x)}")
    sys.exit(3)


def interrupts(x: int) -> int:
    """Prints, then raises ``KeyboardInterrupt``."""
    print(f"interrupting {marker(x)}")
    raise KeyboardInterrupt(f"stop at {x}")


def stops(x: int) -> int:
    """Prints, then raises :class:`ContractStop`."""
    print(f"stopping {marker(x)}")
    raise ContractStop(f"stopped at {x}")


def meets_the_others(x: int, directory: str, expected: int, wait_s: float) -> bool:
    """Leave a mark in ``directory``; wait until ``expected`` calls left theirs.

    True when they all did while this call ran; False when ``wait_s`` passed
    first (the calls did not run at the same time). The wait only bounds a
    failing check; nothing is measured.
    """
    with open(os.path.join(directory, f"{x}.mark"), "w"):
        pass
    deadline = time.monotonic() + wait_s
    while len(os.listdir(directory)) < expected:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
