"""How fast orcapod.core.files reads file digests, and how much its hash cache spares.

Two parts, each on files written to a temporary directory first:

- throughput: ``--files`` files of ``--size`` MB each (random bytes), digested
  by ``FileHasher(strict=True).file_digests`` (which always reads) and by
  ``hashlib.file_digest(f, "sha256")`` on the same files, alternately, for
  ``--rounds`` rounds (the files sit in the page cache: this measures hashing,
  not the disk); in MB/s, with the ratio of the best rounds (target at least
  80 %);
- the cache: ``--small`` unchanged files of 1 MB, their mtime set a minute
  back (a file modified within ``RACY_SECONDS`` of its hashing is never
  cached). A first hasher backed by a store digests them all and writes what
  it learnt (``flush``); a fresh hasher on the same store, reopened as a second
  process would, digests them again (``--rounds`` times, each on the store
  opened anew). That pass over the first's hashing time is the figure (target
  at most 5 %), the first reopening (which pays the store's one-time costs of
  reading in this process) and the best, for the in-memory store (the same
  object, a fresh hasher), SQLite and Delta (those not installed are skipped).

Prints numbers; asserts nothing.

    uv run python benchmarks/file_hashing.py [--files 4] [--size 256] [--rounds 3]
        [--small 2000] [--stores memory sqlite delta]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from orcapod.core.files import FileHasher

if TYPE_CHECKING:
    from collections.abc import Callable

    from orcapod.protocols.database import ArrowDatabase

MB = 1 << 20


def write_files(directory: Path, count: int, size_mb: int, *, backdate: bool = False) -> list[Path]:
    """``count`` files of ``size_mb`` MB of random bytes (``backdate``: mtime a minute back)."""
    directory.mkdir(parents=True, exist_ok=True)
    block = os.urandom(MB)
    past = time.time() - 60
    paths = []
    for index in range(count):
        path = directory / f"{index:05d}.bin"
        with open(path, "wb") as handle:
            handle.write(index.to_bytes(8, "little"))  # no two files alike
            for _ in range(size_mb):
                handle.write(block)
        if backdate:
            os.utime(path, (past, past))
        paths.append(path)
    return paths


def hashlib_digests(paths: list[Path]) -> list[str]:
    """The baseline: ``hashlib.file_digest`` of each file."""
    digests = []
    for path in paths:
        with open(path, "rb") as handle:
            digests.append(hashlib.file_digest(handle, "sha256").hexdigest())
    return digests


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def throughput(directory: Path, files: int, size_mb: int, rounds: int) -> None:
    paths = write_files(directory / "large", files, size_mb)
    total = files * (size_mb * MB + 8) / MB
    hashlib_digests(paths)  # into the page cache
    print(f"{files} files of {size_mb} MB ({total:,.0f} MB), page cache warm, {rounds} rounds")
    ours, theirs = [], []
    for number in range(1, rounds + 1):
        ours.append(timed(lambda: FileHasher(strict=True).file_digests(paths)))
        theirs.append(timed(lambda: hashlib_digests(paths)))
        print(
            f"  round {number}: FileHasher(strict=True) {total / ours[-1]:7.0f} MB/s   "
            f"hashlib.file_digest {total / theirs[-1]:7.0f} MB/s   "
            f"ratio {theirs[-1] / ours[-1]:6.1%}"
        )
    print(
        f"  best: FileHasher {total / min(ours):.0f} MB/s, hashlib {total / min(theirs):.0f} MB/s,"
        f" ratio {min(theirs) / min(ours):.1%} (target ≥ 80 %)"
    )
    for path in paths:
        path.unlink()


def memory_store(directory: Path) -> Callable[[], ArrowDatabase]:
    from orcapod.core.databases import InMemoryArrowDatabase

    database = InMemoryArrowDatabase()
    return lambda: database  # one process: the same store, a fresh hasher


def sqlite_store(directory: Path) -> Callable[[], ArrowDatabase]:
    from orcapod.core import open_database

    return lambda: open_database(f"sqlite:///{directory / 'store.db'}")


def delta_store(directory: Path) -> Callable[[], ArrowDatabase]:
    from orcapod.core import open_database

    return lambda: open_database(f"delta://{directory / 'delta'}")


STORES: dict[str, Callable[[Path], Callable[[], ArrowDatabase]]] = {
    "memory": memory_store,
    "sqlite": sqlite_store,
    "delta": delta_store,
}
"""Store name to a factory of an opener: each call opens the store anew, on the same data."""


def cached_rerun(directory: Path, count: int, stores: list[str], rounds: int) -> None:
    paths = write_files(directory / "small", count, 1, backdate=True)
    hashlib_digests(paths)  # into the page cache, so both passes find it warm
    warm = FileHasher(memory_store(directory)())  # one-time imports (pyarrow's of pandas)
    warm.file_digests(paths[:10])
    warm.flush()
    print(f"\n{count} unchanged files of 1 MB, mtime a minute back, page cache warm")
    for name in stores:
        try:
            opener = STORES[name](directory / name)
            first_store = opener()
        except Exception as error:  # a store whose package is not installed
            print(f"  {name}: skipped ({type(error).__name__}: {error})")
            continue
        FileHasher.forget_memory()  # as a new process: only the store remembers
        first = FileHasher(first_store)
        hashing = timed(lambda hasher=first: hasher.file_digests(paths))
        flushing = timed(first.flush)
        opened = [first_store]
        again, reads = [], []
        for _ in range(rounds):
            opened.append(opener())
            FileHasher.forget_memory()
            second = FileHasher(opened[-1])
            again.append(timed(lambda hasher=second: hasher.file_digests(paths)))
            reads.append(second.reads)
        memory = timed(lambda hasher=second: hasher.file_digests(paths))
        print(
            f"  {name:<7} first pass {hashing:6.3f} s ({first.reads} read), flush "
            f"{flushing:6.3f} s;  a fresh hasher on the store reopened: first {again[0]:6.3f} s,"
            f" best {min(again):6.3f} s ({max(reads)} read) = {again[0] / hashing:5.1%} / "
            f"{min(again) / hashing:5.1%} of the first pass (target ≤ 5 %);  "
            f"from its own memory {memory * 1e3:4.0f} ms"
        )
        for store in {id(store): store for store in opened}.values():
            close = getattr(store, "close", None)
            if close is not None:
                close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--size", type=int, default=256, help="MB per large file")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--small", type=int, default=2000, help="1 MB files for the cache")
    parser.add_argument("--stores", nargs="*", default=list(STORES), choices=list(STORES))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="orcapod-bench-files-") as name:
        directory = Path(name)
        throughput(directory, args.files, args.size, args.rounds)
        cached_rerun(directory, args.small, args.stores, args.rounds)


if __name__ == "__main__":
    main()
