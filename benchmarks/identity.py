"""What it costs to identify a function with everything its code depends on.

Declares a packet function and makes its identity (``content_hash()``: the
dependencies are checked at declaration and identified at first use), for a
function that calls 20 helpers reading 50 module-level values between them
and for a self-contained function (the floor), and prints the best time of a
declaration with its identity. The identity is made once, never per packet:
the last figure is the time of ``content_hash()`` after the first.

    uv run python benchmarks/identity.py
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
import time
from pathlib import Path

from orcapod.core.function_pods import PythonPacketFunction

HELPERS = 20
GLOBALS = 50
ROUNDS = 20


def module_source() -> str:
    lines = ["import math", ""]
    lines += [
        f"G{i} = {{'value': {i}, 'name': 'global {i}', 'weights': ({i}.5, {i}.25)}}"
        for i in range(GLOBALS)
    ]
    per_helper = GLOBALS // HELPERS + 1
    for h in range(HELPERS):
        reads = (
            " + ".join(
                f"G{g}['value']" for g in range(h * per_helper, min(GLOBALS, (h + 1) * per_helper))
            )
            or "0"
        )
        lines += [
            "",
            "",
            f"def helper{h}(x):",
            f"    # helper {h}",
            f"    return x + {reads} + math.floor(0.5)",
        ]
    calls = " + ".join(f"helper{h}(x)" for h in range(HELPERS))
    lines += ["", "", "def dependent(x: int) -> int:", f"    return {calls}"]
    lines += ["", "", "def alone(x: int) -> int:", "    return x + 1", ""]
    return "\n".join(lines)


def load(directory: Path) -> object:
    path = directory / "identity_bench_steps.py"
    path.write_text(module_source())
    spec = importlib.util.spec_from_file_location("identity_bench_steps", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def best_declaration(function: object) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        PythonPacketFunction(function, "y").content_hash()  # type: ignore[arg-type]
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        module = load(Path(directory))
        dependent, alone = module.dependent, module.alone  # type: ignore[attr-defined]
        declared = PythonPacketFunction(dependent, "y")
        count = len(declared.code_dependencies)
        with_dependencies = best_declaration(dependent)
        floor = best_declaration(alone)
        start = time.perf_counter()
        for _ in range(100_000):
            declared.content_hash()
        per_call = (time.perf_counter() - start) / 100_000
    print(
        f"declaration, {HELPERS} helpers and {GLOBALS} globals ({count} dependencies): "
        f"{with_dependencies * 1e3:.2f} ms (best of {ROUNDS}; target < 50 ms)"
    )
    print(f"declaration, a self-contained function (floor): {floor * 1e3:.2f} ms")
    print(f"content_hash() after the declaration: {per_call * 1e9:.0f} ns per call")


if __name__ == "__main__":
    main()
