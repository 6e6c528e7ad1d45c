"""Every error and warning orcapod.capture raises.

Capture never raises into the captured call: a failure of capture itself is
reported as a :class:`CaptureWarning` and in ``CaptureResult.capture_error``.
The errors below are raised only for misuse of the API (bad options, reading a
result before the capture ended).
"""

from __future__ import annotations

from orcapod.protocols.errors import OrcapodError

__all__ = ["CaptureError", "CaptureOptionError", "CaptureWarning"]


class CaptureError(OrcapodError):
    """The capture API was used in a way it does not support."""


class CaptureOptionError(CaptureError, ValueError):
    """An option passed to ``capture``, ``run_captured`` or a formatter is invalid."""


class CaptureWarning(UserWarning):
    """Capture itself failed; the call ran and its result says what was lost."""
