"""What Ray printed while preparing tasks' runtime_envs, read from its set-up log.

Ray's runtime_env agent prepares a task's environment (pip or uv packages, a
working_dir or py_modules downloaded and unpacked, a conda env) on the node, once
per distinct environment, before any worker of it starts, and writes what it did
(the commands, their output, the URIs fetched) to
``<session>/logs/runtime_env_setup-<job id>.log`` on that node. Nothing of it
reaches the task or the driver, except the message of a ``RuntimeEnvSetupError``
when the set-up fails. So the driver reads that file, when the cluster is this
machine: each record takes the lines written since the previous record read them.

Reading never fails a call: an unreadable log is said so in the record, and at
most ``max_bytes`` of new lines are kept (head and tail).
"""

from __future__ import annotations

import os
import threading
from typing import NamedTuple

from orcapod.capture import bound_text

__all__ = ["SetupLog", "SetupRead", "setup_log_of_this_job"]


class SetupRead(NamedTuple):
    """The set-up output read for one record."""

    output: str | None
    """The new lines (``""``: Ray prepared nothing new); None when not readable."""
    error: str | None
    """Why the output could not be read, or None."""


class SetupLog:
    """The set-up log of one Ray job on this machine, read from where the last read ended.

    One per file and process (:func:`setup_log_of_this_job`), shared by every
    executor of the job, so a line is handed to one record only.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._offset = _size(path)  # what was set up before is not this executor's

    def read_new(self, max_bytes: int) -> SetupRead:
        """The lines written since the previous read (at most ``max_bytes``, head and
        tail); never raises."""
        try:
            with self._lock:
                size = _size(self.path)
                if size < self._offset:  # a new file (a new session): read it from the top
                    self._offset = 0
                start, self._offset = self._offset, size
            if size == start:
                return SetupRead("", None)
            return SetupRead(_read_range(self.path, start, size, max_bytes), None)
        except Exception as why:  # a log that cannot be read never fails a call
            return SetupRead(None, f"Ray's set-up log {self.path} could not be read: {why!r}")


_LOGS: dict[str, SetupLog] = {}
_LOGS_LOCK = threading.Lock()


def setup_log_of_this_job() -> SetupLog | str:
    """This job's set-up log on this machine, or why there is none to read.

    Needs a connected driver whose cluster is this machine (the caller checks);
    uses Ray's session directory (``ray._private``: Ray has no public call for it).
    """
    try:
        import ray
        from ray._private import worker

        node = worker._global_node
        if node is None:
            return (
                "the driver is not a node of the cluster (Ray Client), so Ray's set-up "
                "log is not readable here"
            )
        logs = str(node.get_logs_dir_path())
        job = str(ray.get_runtime_context().get_job_id())
    except Exception as why:
        return f"Ray's session log directory is not known here: {why!r}"
    path = os.path.join(logs, f"runtime_env_setup-{job}.log")
    with _LOGS_LOCK:
        log = _LOGS.get(path)
        if log is None:
            log = _LOGS[path] = SetupLog(path)
    return log


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:  # nothing set up yet in this job
        return 0


def _read_range(path: str, start: int, end: int, max_bytes: int) -> str:
    """Bytes ``start`` to ``end`` of ``path`` as text within about ``max_bytes``: the
    head and the tail of a longer range, never the whole of it read."""
    with open(path, "rb") as file:
        if end - start <= max_bytes + 4096:
            file.seek(start)
            return bound_text(_text(file.read(end - start)), max_bytes)
        half = max_bytes // 2
        file.seek(start)
        head = _text(file.read(half))
        file.seek(end - half)
        tail = _text(file.read(half))
    left_out = end - start - 2 * half
    return f"{head}\n[... {left_out} bytes truncated ...]\n{tail}"


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")
