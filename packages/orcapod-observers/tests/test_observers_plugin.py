"""The entry point of orcapod-observers, loaded as orcapod would load it, without orcapod-core."""

from __future__ import annotations

import pytest

from orcapod.protocols.errors import NotAvailableError
from orcapod.protocols.testing import load_distribution_plugins

OBSERVERS = {
    "logging": "LoggingObserver",
    "status": "StatusObserver",
    "composite": "CompositeObserver",
    "progress": "ProgressObserver",
}


def test_entry_point_registers_the_four_observers() -> None:
    provided = load_distribution_plugins("orcapod-observers")
    assert {kind: set(names) for kind, names in provided.items()} == {"observer": set(OBSERVERS)}


@pytest.mark.parametrize(("name", "class_name"), OBSERVERS.items())
def test_asking_for_an_observer_says_clearly_that_it_is_not_available_yet(
    name: str, class_name: str
) -> None:
    factory = load_distribution_plugins("orcapod-observers")["observer"][name]
    with pytest.raises(NotAvailableError, match=class_name):
        factory()
