"""The installed distribution's entry point gives orcapod the store and the observer."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from orcapod.protocols.errors import StoreNotFoundError
from orcapod.protocols.testing import load_distribution_plugins

if TYPE_CHECKING:
    from pathlib import Path


def test_the_entry_point_provides_the_store_and_the_observer() -> None:
    provided = load_distribution_plugins("orcapod-plugin-template")
    assert {kind: sorted(names) for kind, names in provided.items()} == {
        "database": ["blobstore"],
        "observer": ["run-summary"],
    }


def test_the_scheme_opens_a_store_and_refuses_a_missing_one_to_read(tmp_path: Path) -> None:
    open_store = load_distribution_plugins("orcapod-plugin-template")["database"]["blobstore"]
    with pytest.raises(StoreNotFoundError, match=r"missing\.db"):
        open_store(f"blobstore://{tmp_path}/missing.db", create=False)
    assert not (tmp_path / "missing.db").exists()
    store = open_store(f"blobstore://{tmp_path}/runs.db")
    store.close()
    assert (tmp_path / "runs.db").is_file()
