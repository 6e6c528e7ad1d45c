"""How fast GlobSource lists files and builds its table, hashing and with digests cached.

Writes ``--files`` small files (``--size`` bytes each, their mtime a minute
back so the file-hash cache may keep them) as ``s000/0.bin``... in
``--dirs`` directories of a temporary directory, then times, for the pattern
``{subject}/{session}.bin`` with ``session`` an int field:

- constructing the source: listing and matching (best of ``--rounds``);
- its first ``as_table()`` under a fresh ``FileHasher`` (every file read);
- a new source's construction plus ``as_table()`` under the same hasher, its
  digests cached in memory: the target (under 1 s for 10,000 files), best of
  ``--rounds``; and that table's ``content_hash()``.

One small GlobSource is built first, untimed (pyarrow imports pandas the
first time it converts Python values). Prints numbers; asserts nothing.

    uv run python benchmarks/glob_source.py [--files 10000] [--dirs 100] [--size 4096]
        [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from _timing import best_of
from orcapod.core import GlobSource
from orcapod.core.files import FileHasher, hashing_with

PATTERN = "{subject}/{session}.bin"


def write_tree(root: Path, files: int, dirs: int, size: int) -> None:
    """``files`` files of ``size`` bytes spread over ``dirs`` directories, mtime a minute back."""
    past = time.time() - 60
    per_dir = -(-files // dirs)
    for number in range(files):
        directory = root / f"s{number // per_dir:03d}"
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{number % per_dir}.bin"
        path.write_bytes(number.to_bytes(8, "little") + os.urandom(max(size - 8, 0)))
        os.utime(path, (past, past))


def source(root: Path) -> GlobSource:
    return GlobSource(PATTERN, root=root, field_types={"session": int})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--dirs", type=int, default=100)
    parser.add_argument("--size", type=int, default=4096, help="bytes per file")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="orcapod-bench-glob-") as name:
        warm = Path(name) / "warm"
        write_tree(warm, 10, 2, 16)
        source(warm).as_table()  # one-time imports

        root = Path(name) / "tree"
        write_tree(root, args.files, args.dirs, args.size)
        print(f"{args.files:,} files of {args.size:,} bytes in {args.dirs} directories")
        construct = best_of(args.rounds, lambda: source(root))
        print(f"  construct (list and match)               {construct:7.3f} s")

        hasher = FileHasher()
        with hashing_with(hasher):
            made = source(root)
            start = time.perf_counter()
            table = made.as_table()
            first = time.perf_counter() - start
            print(
                f"  first as_table(), {hasher.reads:,} files read      {first:7.3f} s  "
                f"({args.files * args.size / first / 2**20:,.0f} MB/s)"
            )
            if table.num_rows != args.files:
                sys.exit(f"GlobSource found {table.num_rows} files, not {args.files}")

            def cached() -> None:
                source(root).as_table()

            both = best_of(args.rounds, cached)
            again = source(root)
            again.as_table()
            content = best_of(1, again.content_hash)
            print(f"  construct + as_table(), digests cached   {both:7.3f} s  (target < 1 s)")
            print(f"  then content_hash()                      {content:7.3f} s")
            print(f"  files read in all                        {hasher.reads:,}")


if __name__ == "__main__":
    main()
