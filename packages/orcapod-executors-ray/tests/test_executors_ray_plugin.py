"""The entry point and import surface of orcapod-executors-ray, loaded as orcapod would,
without orcapod-core."""

from __future__ import annotations

import subprocess
import sys

import pytest

import orcapod.executors.ray as package
from orcapod.executors.ray import RayExecutor, RayExecutorOptionError
from orcapod.executors.ray._plugin import make_ray_executor, orcapod_executors
from orcapod.protocols.errors import OrcapodError
from orcapod.protocols.executors import PythonFunctionExecutor
from orcapod.protocols.testing import load_distribution_plugins


def test_entry_point_registers_the_ray_executor() -> None:
    provided = load_distribution_plugins("orcapod-executors-ray")
    assert {kind: set(names) for kind, names in provided.items()} == {"executor": {"ray"}}


def test_the_registered_factory_makes_a_ray_executor_with_the_given_options() -> None:
    factory = load_distribution_plugins("orcapod-executors-ray")["executor"]["ray"]
    executor = factory(num_cpus=1, max_retries=2)
    assert isinstance(executor, RayExecutor)
    assert (executor.num_cpus, executor.max_retries) == (1, 2)
    assert orcapod_executors()["ray"] is make_ray_executor


def test_the_factory_refuses_an_unknown_option() -> None:
    with pytest.raises(TypeError, match="cpus"):
        make_ray_executor(cpus=1)


def test_a_ray_executor_satisfies_the_python_executor_protocol() -> None:
    executor = RayExecutor()
    assert isinstance(executor, PythonFunctionExecutor)
    assert executor.executor_type == "ray"


def test_the_package_exports_exactly_its_public_names() -> None:
    assert set(package.__all__) == {
        "RayExecutor",
        "RayExecutorError",
        "RayExecutorOptionError",
        "RayTaskSystemError",
        "RemoteExceptionError",
        "TaskSetupError",
        "WorkerDiedError",
    }
    for name in package.__all__:
        assert getattr(package, name).__module__.startswith("orcapod.executors.ray")
    assert issubclass(package.RayExecutorError, OrcapodError)
    assert issubclass(package.WorkerDiedError, RuntimeError)


def test_importing_the_package_and_making_an_executor_imports_neither_ray_nor_core() -> None:
    code = (
        "import sys\n"
        "import orcapod.executors.ray._plugin\n"
        "from orcapod.executors.ray import RayExecutor\n"
        "executor = RayExecutor(num_cpus=1).with_options(max_retries=1)\n"
        "print('ray' in sys.modules, 'orcapod.core' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", "False"]


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"num_cpus": -1}, "num_cpus"),
        ({"num_gpus": "1"}, "num_gpus"),
        ({"memory": 1.5}, "memory"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_in_flight": 0}, "max_in_flight"),
        ({"resources": {"CPU": 1}}, "num_cpus="),
        ({"resources": {"scanner": -1}}, "scanner"),
        ({"retry_exceptions": [ValueError, "TimeoutError"]}, "retry_exceptions"),
        ({"retry_exceptions": "yes"}, "retry_exceptions"),
        ({"runtime_env": ["pip"]}, "runtime_env"),
        ({"address": ""}, "address"),
        ({"max_bytes": -1}, "max_bytes"),
        ({"passthrough": "no"}, "passthrough"),
    ],
)
def test_an_unusable_option_is_refused_at_construction_naming_it(
    options: dict[str, object], named: str
) -> None:
    with pytest.raises(RayExecutorOptionError, match=named):
        RayExecutor(**options)  # type: ignore[arg-type]


def test_with_options_returns_a_new_executor_and_leaves_the_original_alone() -> None:
    original = RayExecutor(num_cpus=1, resources={"scanner": 1})
    changed = original.with_options(num_cpus=0.5, max_retries=3, retry_exceptions=[KeyError])
    assert changed is not original
    assert (changed.num_cpus, changed.max_retries, changed.retry_exceptions) == (
        0.5,
        3,
        (KeyError,),
    )
    assert changed.resources == {"scanner": 1}
    assert (original.num_cpus, original.max_retries, original.retry_exceptions) == (1, 0, False)


def test_with_options_refuses_an_unknown_option_naming_it() -> None:
    with pytest.raises(TypeError, match="'gpus'"):
        RayExecutor().with_options(gpus=1)


def test_with_options_checks_the_new_values() -> None:
    with pytest.raises(RayExecutorOptionError, match="max_in_flight"):
        RayExecutor().with_options(max_in_flight=-2)


def test_repr_shows_the_options_that_differ_from_the_defaults() -> None:
    assert repr(RayExecutor()) == "RayExecutor()"
    assert repr(RayExecutor(num_cpus=2, max_retries=1)) == "RayExecutor(num_cpus=2, max_retries=1)"
