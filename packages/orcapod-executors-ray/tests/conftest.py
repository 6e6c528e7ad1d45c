"""One real local Ray cluster (2 CPUs) for the whole test session."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

# Set before Ray is first imported (nothing above imports it): workers use this
# venv as it is, not a copy uv's hook would build, and a local test cluster
# needs no token.
os.environ["RAY_ENABLE_UV_RUN_RUNTIME_ENV"] = "0"
os.environ["RAY_AUTH_MODE"] = "disabled"
# A runtime_env that cannot be set up fails after one try, not Ray's three (the
# set-up failure tests stay short); read by the cluster's runtime_env agent.
os.environ["RUNTIME_ENV_RETRY_TIMES"] = "1"


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    """A local Ray cluster started by the tests (not by an executor), shut down at the end."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False)
    try:
        yield ray
    finally:
        ray.shutdown()
