"""The contract test kit: abstract test classes and checks that implementations reuse.

A backend subclasses a contract class, sets ``__test__ = True`` and supplies
its factory; the inherited tests then run against it::

    from orcapod.protocols.testing import ArrowDatabaseContract

    class TestMyDatabase(ArrowDatabaseContract):
        __test__ = True

        def make_database(self, tmp_path):
            return MyDatabase(tmp_path / "store")

A plugin's logical types subclass ``LogicalTypeContract`` the same way, and
its observers ``ObserverContract`` (supplying ``make_observer``) and its
executors ``ExecutorContract`` (supplying ``make_executor``).

Needs pytest and hypothesis (``pip install 'orcapod-protocols[testing]'``).
Names are imported on first use, so a process that needs only one part of
the kit (a writer process of the durability tests) does not import pytest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orcapod.protocols.lazy import lazy_exports

if TYPE_CHECKING:
    from orcapod.protocols.testing.database import (
        ArrowDatabaseContract as ArrowDatabaseContract,
    )
    from orcapod.protocols.testing.database import (
        DurableArrowDatabaseContract as DurableArrowDatabaseContract,
    )
    from orcapod.protocols.testing.database import (
        PersistentArrowDatabaseContract as PersistentArrowDatabaseContract,
    )
    from orcapod.protocols.testing.executor_contract import (
        ExecutorContract as ExecutorContract,
    )
    from orcapod.protocols.testing.logical_types import (
        LogicalTypeContract as LogicalTypeContract,
    )
    from orcapod.protocols.testing.observer_contract import (
        ObserverContract as ObserverContract,
    )
    from orcapod.protocols.testing.observers import Event as Event
    from orcapod.protocols.testing.observers import (
        FirstReleaseObserver as FirstReleaseObserver,
    )
    from orcapod.protocols.testing.observers import RecordingLogger as RecordingLogger
    from orcapod.protocols.testing.observers import RecordingObserver as RecordingObserver
    from orcapod.protocols.testing.plugins import (
        load_distribution_logical_types as load_distribution_logical_types,
    )
    from orcapod.protocols.testing.plugins import (
        load_distribution_plugins as load_distribution_plugins,
    )

__all__, __getattr__, __dir__ = lazy_exports(
    globals(),
    {
        "ArrowDatabaseContract": "orcapod.protocols.testing.database",
        "DurableArrowDatabaseContract": "orcapod.protocols.testing.database",
        "PersistentArrowDatabaseContract": "orcapod.protocols.testing.database",
        "ExecutorContract": "orcapod.protocols.testing.executor_contract",
        "LogicalTypeContract": "orcapod.protocols.testing.logical_types",
        "ObserverContract": "orcapod.protocols.testing.observer_contract",
        "Event": "orcapod.protocols.testing.observers",
        "FirstReleaseObserver": "orcapod.protocols.testing.observers",
        "RecordingLogger": "orcapod.protocols.testing.observers",
        "RecordingObserver": "orcapod.protocols.testing.observers",
        "load_distribution_logical_types": "orcapod.protocols.testing.plugins",
        "load_distribution_plugins": "orcapod.protocols.testing.plugins",
    },
)
