"""A pipeline run makes jemalloc Arrow's default memory pool in place of mimalloc
(mimalloc stalls a run for milliseconds at a time), and leaves a pool named in the
environment, or another pool the program set, alone. Each case runs in a fresh
process: the pool is process-wide."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pyarrow as pa
import pytest

_RUN = """
import json, sys
import pyarrow as pa
from orcapod.core import ArrowTableSource, InMemoryArrowDatabase, Pipeline, function_pod

if sys.argv[1] == "user-set":
    pa.set_memory_pool(pa.system_memory_pool())

@function_pod(output_keys="y", code_identity="double v1")
def double(x: int) -> int:
    return 2 * x

before = pa.default_memory_pool().backend_name
pipeline = Pipeline("pool", InMemoryArrowDatabase())
with pipeline:
    double.pod(ArrowTableSource(pa.table({"i": [1, 2], "x": [3, 4]}), tag_columns=["i"]))
result = pipeline.run()
print(json.dumps([before, pa.default_memory_pool().backend_name, result.nodes["double"].computed]))
"""


def _pools(case: str, **environment: str) -> list[object]:
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    done = subprocess.run(
        [sys.executable, "-c", _RUN, case],
        capture_output=True,
        text=True,
        env={**env, **environment},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


def _has(pool: str) -> bool:
    try:
        getattr(pa, f"{pool}_memory_pool")()
    except NotImplementedError:
        return False
    return True


def test_a_run_replaces_mimalloc_by_jemalloc() -> None:
    if not (_has("jemalloc") and _has("mimalloc")):
        pytest.skip("this pyarrow lacks jemalloc or mimalloc")
    before, after, computed = _pools("default", ARROW_DEFAULT_MEMORY_POOL="")
    if before != "mimalloc":
        pytest.skip(f"pyarrow's default pool here is {before}, not mimalloc")
    assert (after, computed) == ("jemalloc", 2)


@pytest.mark.parametrize("pool", ["system", "mimalloc"])
def test_a_pool_named_by_the_environment_is_kept(pool: str) -> None:
    if not _has(pool):
        pytest.skip(f"this pyarrow lacks {pool}")
    assert _pools("default", ARROW_DEFAULT_MEMORY_POOL=pool) == [pool, pool, 2]


def test_a_pool_set_by_the_program_is_kept() -> None:
    assert _pools("user-set") == ["system", "system", 2]
