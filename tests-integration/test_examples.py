"""Every script in examples/ runs and prints what it promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).parent.parent / "examples"


def run_example(name: str) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name)], capture_output=True, text=True, timeout=120
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
