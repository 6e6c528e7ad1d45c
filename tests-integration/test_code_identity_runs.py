"""Editing what a function depends on recomputes exactly what it affects, across processes.

Each case writes a module of steps to a directory, runs a pipeline over it in a
fresh Python process against a SQLite store, edits the module as a user would
between two runs, and runs again in another fresh process: the second run
computes exactly the packets the edit affects, with the new values, and a
comment-only edit computes nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pathlib import Path

RUNNER = textwrap.dedent(
    """
    import json
    import sys

    sys.path.insert(0, sys.argv[1])
    from orcapod.core import DictSource, Pipeline
    import steps

    source = DictSource(
        [{"id": i, "x": i} for i in range(1, 4)], tag_columns=["id"], source_id="numbers"
    )
    pipeline = Pipeline("identity", f"sqlite:///{sys.argv[1]}/store.db")
    with pipeline:
        for label, pod_function in steps.PODS.items():
            pod_function.pod(source, label=label)
    result = pipeline.run()
    print(json.dumps({
        label: {
            "computed": result.nodes[label].computed,
            "cached": result.nodes[label].cached,
            "y": sorted(pipeline.nodes[label].as_table().column("y").to_pylist()),
            "why": [reason for reason, _ in pipeline.explain(label).reasons],
        }
        for label in steps.PODS
    }))
    """
)


def run(directory: Path, steps: str, *, why: bool = False) -> dict[str, Any]:
    (directory / "steps.py").write_text(textwrap.dedent(steps))
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, str(directory)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    if not why:  # the reasons are checked where a test asks for them
        for counts in result.values():
            del counts["why"]
    return result


GLOBALS = """
from orcapod.core import function_pod

K = {k}


def helper(x):
    {helper}


@function_pod("y")
def f(x: int) -> int:
    return x * K + helper(x)


@function_pod("y")
def untouched(x: int) -> int:
    return x + 1


PODS = {{"f": f, "untouched": untouched}}
"""


def test_a_changed_global_recomputes_the_function_that_reads_it(tmp_path: Path) -> None:
    first = run(tmp_path, GLOBALS.format(k=10, helper="return 0"))
    assert first["f"] == {"computed": 3, "cached": 0, "y": [10, 20, 30]}
    second = run(tmp_path, GLOBALS.format(k=20, helper="return 0"), why=True)
    assert second["f"] == {
        "computed": 3,
        "cached": 0,
        "y": [20, 40, 60],
        "why": ["global `K`: 10 → 20"],
    }
    assert second["untouched"] == {"computed": 0, "cached": 3, "y": [2, 3, 4], "why": []}


def test_a_changed_helper_body_recomputes_and_a_comment_does_not(tmp_path: Path) -> None:
    run(tmp_path, GLOBALS.format(k=10, helper="return 0"))
    commented = run(tmp_path, GLOBALS.format(k=10, helper="return 0  # always zero, for now"))
    assert commented["f"] == {"computed": 0, "cached": 3, "y": [10, 20, 30]}
    changed = run(tmp_path, GLOBALS.format(k=10, helper="return 100"), why=True)
    assert changed["f"]["computed"] == 3
    assert changed["f"]["y"] == [110, 120, 130]
    assert changed["f"]["why"] == ["function changed: helper `helper` (body)"]
    assert changed["untouched"]["computed"] == 0


DECORATED = """
import functools

from orcapod.core import function_pod


def scale(k):
    def decorator(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            return fn(*args, **kwargs) * k

        return wrapper

    return decorator


@function_pod("y")
@scale({k})
def f(x: int) -> int:
    return x


PODS = {{"f": f}}
"""


def test_a_changed_decorator_argument_recomputes(tmp_path: Path) -> None:
    assert run(tmp_path, DECORATED.format(k=2))["f"]["y"] == [2, 4, 6]
    second = run(tmp_path, DECORATED.format(k=3), why=True)
    assert second["f"]["computed"] == 3
    assert second["f"]["y"] == [3, 6, 9]
    assert second["f"]["why"] == ["closure `scale.decorator.wrapper.k`: 2 → 3"]
    again = run(tmp_path, DECORATED.format(k=3))
    assert again["f"] == {"computed": 0, "cached": 3, "y": [3, 6, 9]}


FACTORY = """
from orcapod.core import function_pod


def make(k):
    @function_pod("y", name="scale")
    def scale(x: int) -> int:
        return x * k

    return scale


PODS = {"times2": make(2), "times3": make(3)}
"""


def test_closures_of_one_factory_are_different_functions(tmp_path: Path) -> None:
    first = run(tmp_path, FACTORY)
    assert first["times2"] == {"computed": 3, "cached": 0, "y": [2, 4, 6]}
    assert first["times3"] == {"computed": 3, "cached": 0, "y": [3, 6, 9]}
    second = run(tmp_path, FACTORY)
    assert second["times3"] == {"computed": 0, "cached": 3, "y": [3, 6, 9]}


@pytest.mark.parametrize("edit", ["K = 10  # the gain", '"""Steps."""\n\nK = 10'])
def test_edits_that_change_no_behaviour_recompute_nothing(tmp_path: Path, edit: str) -> None:
    run(tmp_path, GLOBALS.format(k=10, helper="return 0"))
    edited = GLOBALS.format(k=10, helper="return 0").replace("K = 10", edit)
    again = run(tmp_path, edited)
    assert again["f"] == {"computed": 0, "cached": 3, "y": [10, 20, 30]}
