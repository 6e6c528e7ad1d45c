"""What File inputs and outputs cost a pipeline, beside the same pipeline over ints.

Writes ``--files`` small files (mtime a minute back), then runs, each in a
fresh process on a fresh SQLite store:

- *ints*: a ``DictSource`` of ``--files`` ints → one function (int → int): the floor;
- *File in*: ``GlobSource`` of the files → one function (File → int);
- *File out*: the ints → one function writing a small file (int → File).

For each: the first run, and a re-run with everything cached in another
process (so the digest cache is the store's, not this process's memory).
Prints seconds and the cost per packet over the floor; asserts nothing.

    uv run python benchmarks/file_pipeline.py [--files 5000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORKER = r"""
import sys, time
from pathlib import Path
from orcapod.core import DictSource, File, GlobSource, Pipeline, function_pod, scratch_dir

kind, uri, folder, count = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])

@function_pod(output_keys="n")
def twice(x: int) -> int:
    return 2 * x

@function_pod(output_keys="n")
def size(file: File) -> int:
    return len(file.read_bytes())

@function_pod(output_keys="out")
def write(x: int) -> File:
    out = scratch_dir() / "out.txt"
    out.write_text(str(x))
    return File(out)

started = time.perf_counter()
pipeline = Pipeline("bench", uri)
with pipeline:
    if kind == "ints":
        twice.pod(DictSource([{"i": i, "x": i} for i in range(count)], tag_columns=["i"]))
    elif kind == "file-in":
        size.pod(GlobSource("{name}.txt", root=folder))
    else:
        write.pod(DictSource([{"i": i, "x": i} for i in range(count)], tag_columns=["i"]))
result = pipeline.run()
print(time.perf_counter() - started, result.n_computed, result.n_cached)
"""


def run(kind: str, uri: str, folder: Path, count: int) -> tuple[float, int, int]:
    worker = folder.parent / "worker.py"  # a file: function identities read their source
    worker.write_text(WORKER)
    done = subprocess.run(
        [sys.executable, str(worker), kind, uri, str(folder), str(count)],
        capture_output=True,
        text=True,
        check=True,
    )
    seconds, computed, cached = done.stdout.split()[-3:]
    return float(seconds), int(computed), int(cached)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "inputs"
        folder.mkdir()
        past = time.time() - 60
        for i in range(args.files):
            path = folder / f"{i:06d}.txt"
            path.write_text(f"input {i}\n")
            os.utime(path, (past, past))
        print(f"{args.files} packets, SQLite, each run in a fresh process")
        floor: dict[str, float] = {}
        for kind in ("ints", "file-in", "file-out"):
            uri = f"sqlite:///{Path(scratch) / kind}.db"
            first = run(kind, uri, folder, args.files)
            again = run(kind, uri, folder, args.files)
            if kind == "ints":
                floor = {"first": first[0], "again": again[0]}
            over_first = (first[0] - floor["first"]) / args.files * 1e6
            over_again = (again[0] - floor["again"]) / args.files * 1e6
            print(
                f"  {kind:<9} first run {first[0]:6.2f} s ({first[1]} computed), "
                f"cached re-run {again[0]:6.2f} s ({again[2]} cached);  over ints: "
                f"{over_first:6.0f} / {over_again:6.0f} µs per packet"
            )


if __name__ == "__main__":
    main()
