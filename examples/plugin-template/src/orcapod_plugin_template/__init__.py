"""An orcapod plugin: a store (``blobstore://FILE``) and an observer (``run-summary``)."""

from __future__ import annotations

from orcapod_plugin_template._database import BlobStore
from orcapod_plugin_template._observer import RunSummaryObserver

__all__ = ["BlobStore", "RunSummaryObserver"]
