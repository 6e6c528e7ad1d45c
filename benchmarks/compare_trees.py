"""The same benchmarks in two checkouts, interleaved in one sitting: figures side by side.

The machine's speed drifts between sittings by several times, so a figure is
only compared with one measured beside it. This runs each script once in each
tree, alternately (A B, then B A, ...), for ``--rounds`` rounds, each as
``uv run python benchmarks/SCRIPT`` from that tree's root (so each uses its own
environment), prints every output line that holds a per-packet figure, and
then, per figure, each round's value in both trees and their ratio.

Make the other tree a worktree of the commit to compare with, with its own
environment::

    git worktree add /tmp/orcapod-base 3055647
    (cd /tmp/orcapod-base && uv sync --frozen)
    uv run python benchmarks/compare_trees.py --base /tmp/orcapod-base
    git worktree remove --force /tmp/orcapod-base

Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIGURE = re.compile(
    r"^(?P<what>.*?)\s+(?P<value>[\d.]+) µs/packet(?:\s+over bare: (?P<over>[\d.]+))?"
)


def run(tree: Path, script: str, extra: list[str]) -> tuple[dict[str, float], str, float]:
    """One run of ``script`` in ``tree``: its figures (µs per packet), its output, its wall time."""
    started = time.perf_counter()
    done = subprocess.run(
        ["uv", "run", "python", f"benchmarks/{script}.py", *extra],
        cwd=tree,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"{script} in {tree} failed:\n{done.stderr}")
    figures = {}
    for line in done.stdout.splitlines():
        match = FIGURE.match(line)
        if match:
            what = match["what"].strip()
            figures[what] = float(match["value"])
            if match["over"] is not None:
                figures[f"{what}, over bare"] = float(match["over"])
    return figures, done.stdout, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True, help="the other tree (e.g. a worktree)")
    parser.add_argument("--new", type=Path, default=HERE.parent, help="default: this checkout")
    parser.add_argument("--scripts", nargs="+", default=["pipeline_overhead", "observer_overhead"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--args", nargs=argparse.REMAINDER, default=[], help="passed to scripts")
    args = parser.parse_args()
    trees = {"base": args.base.resolve(), "new": args.new.resolve()}
    for name, tree in trees.items():
        commit = subprocess.run(
            ["git", "-C", str(tree), "log", "-1", "--format=%h %cd", "--date=iso"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        print(f"{name}: {tree} ({commit})")
    print(f"started {time.strftime('%Y-%m-%d %H:%M:%S %Z')}", flush=True)

    for script in args.scripts:
        # results[tree] = one dict of figures per round
        results: dict[str, list[dict[str, float]]] = {"base": [], "new": []}
        for round_ in range(args.rounds):
            order = ["base", "new"] if round_ % 2 == 0 else ["new", "base"]
            for name in order:
                figures, output, wall = run(trees[name], script, args.args)
                results[name].append(figures)
                print(f"\n# {script}, round {round_ + 1}, {name} ({wall:.0f} s)")
                print(output.rstrip(), flush=True)
        print(f"\n## {script}: µs/packet, base / new, each round (ratio new / base)")
        for what in results["new"][0]:
            cells = []
            for base, new in zip(results["base"], results["new"], strict=True):
                if what in base:
                    cells.append(
                        f"{base[what]:.2f} / {new[what]:.2f} ({new[what] / base[what]:.3f})"
                    )
            best_base = min(r[what] for r in results["base"] if what in r)
            best_new = min(r[what] for r in results["new"])
            print(
                f"{what:<44} "
                + "   ".join(cells)
                + f"   best {best_base:.2f} / {best_new:.2f} ({best_new / best_base:.3f})"
            )
        print(flush=True)
    print(f"ended {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")


if __name__ == "__main__":
    main()
