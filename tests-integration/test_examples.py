"""Every script in examples/ runs and prints what it promises."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from orcapod.protocols.testing.postgres import PostgresServer

EXAMPLES = Path(__file__).parent.parent / "examples"


def run_example(name: str, *args: str, cwd: Path | None = None) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env={**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0"},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_plugin_in_a_script_shares_one_store_per_scratch_name() -> None:
    output = run_example("plugin_in_a_script.py").splitlines()
    assert output == [
        "same store: True",
        "paths: [('trial', 'scores')]",
        "s1: [{'subject': 's1', 'score': 0.91}]",
    ]


def test_incremental_pipeline_computes_only_the_new_rows_on_the_second_run() -> None:
    output = run_example("incremental_pipeline.py").splitlines()
    assert output == [
        "first run: computed 3",
        "second run: computed 2, cached 3",
        "function calls in all: 5",
        "adults: ['s1', 's2', 's3', 's4']",
    ]


GROWING_WELLS = [
    "p1 A1 wild type: doubles every 0.77 h",
    "p1 A2 wild type: doubles every 1.16 h",
    "p1 B2 wild type: doubles every 1.54 h",
    "p2 A1 fast mutant: doubles every 0.64 h",
    "p2 A2 fast mutant: doubles every 0.96 h",
    "p2 B2 fast mutant: doubles every 1.28 h",
]


def _results(output: str) -> list[str]:
    """The example's own lines (the function's prints pass through to the terminal too)."""
    return [line for line in output.splitlines() if "fitted " not in line]


def test_local_pipeline_on_delta_computes_once_and_keeps_the_wells_that_grew(
    tmp_path: Path,
) -> None:
    first = run_example("local_pipeline.py", cwd=tmp_path)
    assert _results(first) == ["growth: computed 8, cached 0", *GROWING_WELLS]
    assert "fitted 12 readings: 0.900 per hour" in first  # passed through live
    assert (tmp_path / "orcapod-example").is_dir()

    second = run_example("local_pipeline.py", cwd=tmp_path)
    assert _results(second) == ["growth: computed 0, cached 8", *GROWING_WELLS]


@pytest.mark.postgres
def test_postgres_pipeline_is_the_same_pipeline_stored_in_postgresql(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    url = postgres.url(driver="psycopg").replace("postgresql+psycopg://", "postgresql://")
    first = run_example("postgres_pipeline.py", url, cwd=tmp_path)
    assert _results(first) == ["growth: computed 8, cached 0", *GROWING_WELLS]

    second = run_example("postgres_pipeline.py", url, cwd=tmp_path)
    assert _results(second) == ["growth: computed 0, cached 8", *GROWING_WELLS]


def test_ray_pipeline_is_the_same_pipeline_with_its_function_on_ray(tmp_path: Path) -> None:
    first = run_example("ray_pipeline.py", cwd=tmp_path)
    assert _results(first)[-7:] == ["growth: computed 8, cached 0", *GROWING_WELLS]

    second = run_example("ray_pipeline.py", cwd=tmp_path)
    assert _results(second)[-7:] == ["growth: computed 0, cached 8", *GROWING_WELLS]
    assert "fitted" not in second  # nothing ran
