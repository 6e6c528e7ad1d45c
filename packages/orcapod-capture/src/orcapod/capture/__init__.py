"""orcapod.capture: what one call printed, logged and raised.

Two levels: ``sys`` (in-process; each thread and asyncio task captures only
its own output) and ``fd`` (file descriptors 1 and 2, so C extensions and child
processes are captured too). Output is bounded (head and tail kept, true size
counted) and capture never breaks the call it captures.

    with capture() as cap:
        work()
    cap.result.stdout, cap.result.python_logs

    call = run_captured(work, (x,), level="fd")
    logger.record(**call.result.as_record_fields())
    return call.unwrap()
"""

from __future__ import annotations

from orcapod.capture._api import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_RECORDS,
    capture,
    record_call,
    recover_spooled_output,
    run_captured,
)
from orcapod.capture._buffer import bound_text
from orcapod.capture._capture import Capture
from orcapod.capture._portable import pickled_exception
from orcapod.capture._records import LogStyle, format_log_records
from orcapod.capture._result import CapturedCall, CaptureResult
from orcapod.capture.errors import CaptureError, CaptureOptionError, CaptureWarning

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_RECORDS",
    "Capture",
    "CaptureError",
    "CaptureOptionError",
    "CaptureResult",
    "CaptureWarning",
    "CapturedCall",
    "LogStyle",
    "bound_text",
    "capture",
    "format_log_records",
    "pickled_exception",
    "record_call",
    "recover_spooled_output",
    "run_captured",
]
