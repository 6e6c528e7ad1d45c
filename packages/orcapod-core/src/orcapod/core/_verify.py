"""``orcapod verify URI [--pipeline P]``: every stored result rehashed against its output hash.

Like ``git fsck``: a result whose output columns no longer hash to the output
hash stored beside them was changed after it was computed (by hand, by
another program, by a damaged disk), and every later run would use it as if
it were true. The check reads the stores as written by
:class:`~orcapod.core.function_pods.ResultCache` and the function nodes:

- results of a function at ``("_results", <function name>, <identity>)``:
  the input hash (record id), the output columns, ``__output_packet_hash``,
  then the execution context;
- records of pipeline ``P``'s function node at ``(P, <label>, <node hash>)``:
  tag columns, ``__provenance``, ``__input_packet_hash``,
  ``__output_packet_hash``.

A record names the node and tag that use a result (by input hash and output
hash); a result no record references is still checked, and reported by its
path and input hash.

Results that name ``File`` or ``Directory`` values (in the file store) have
each file read again and compared with its digest. A missing or altered file
is a problem unless a run has already computed the result again and stored
it as a repair (``<identity>.repairs``) whose files are intact.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orcapod.core.errors import UnsupportedTypeError
from orcapod.core.files import FileHasher, default_file_store, hashing_with
from orcapod.core.function_pods import INPUT_HASH, OUTPUT_HASH
from orcapod.core.function_pods._file_outputs import FileOutputs
from orcapod.core.function_pods._result_cache import MAX_REPAIRS, REPAIR_ID, REPAIRS_SUFFIX
from orcapod.core.hashing import hash_table_rows
from orcapod.core.pipeline._records import RECORD_BRANCHES
from orcapod.core.system_columns import PROVENANCE
from orcapod.core.types import Schema
from orcapod.protocols.errors import OrcapodError, StoreCorruptedError

if TYPE_CHECKING:
    import argparse

    import pyarrow as pa

    from orcapod.protocols.database import ArrowDatabase
    from orcapod.protocols.hooks import CliHost
    from orcapod.protocols.values import RecordPath

__all__ = ["Problem", "VerifyCommand", "VerifyReport", "verify_store"]

RESULTS_BRANCH = "_results"
_OBSERVER_BRANCHES = frozenset({"_runs", "_logs", "_status", "_heartbeats"}) | RECORD_BRANCHES
"""Branches of a pipeline that are not nodes: the observers', and what explains runs."""
_REPAIR = (
    "delete that record (id {id!r}) from {path!r} so that the next run computes it again; "
    "the records of the nodes that use it are kept"
)


class UsageError(OrcapodError):
    """What was asked cannot be checked (an unknown pipeline, say): exit status 2."""


@dataclass(frozen=True)
class NodeUse:
    """A function node's record of one result: which pipeline, node and tag used it."""

    pipeline: str
    node: str
    tag: dict[str, Any]
    output_hash: str

    def describe(self) -> str:
        tag = ", ".join(f"{key}={value!r}" for key, value in self.tag.items()) or "(no tags)"
        return f"node {self.node!r} of pipeline {self.pipeline!r} at tag {tag}"


@dataclass(frozen=True)
class Problem:
    """One thing verify found wrong, said so that a user can repair it."""

    kind: str
    """``"result"``: contents differ from the stored hash; ``"record"``: a record's
    output hash matches no stored result; ``"file"``: a file the result names is
    missing or altered (``found_hash`` names it)."""
    path: RecordPath
    input_hash: str
    stored_hash: str
    found_hash: str | None
    uses: tuple[NodeUse, ...] = ()

    def describe(self) -> str:
        """Several lines: what is wrong, who uses it, how to repair it."""
        if self.kind == "file":
            lines = [
                f"MISSING OR ALTERED file of result {self.input_hash} at {self.path!r}: "
                f"{self.found_hash}"
            ]
            lines += [f"  used by {use.describe()}" for use in self.uses]
            lines.append(
                "  repair: run the pipeline again: the result is computed again and its "
                "files stored (the next run says so with a FileStoreWarning)"
            )
            return "\n".join(lines)
        if self.kind == "result":
            lines = [
                f"MISMATCH result {self.input_hash} at {self.path!r}: its output columns hash "
                f"to {self.found_hash}, not to the stored {self.stored_hash}"
            ]
            lines += [f"  used by {use.describe()}" for use in self.uses]
            if not self.uses:
                lines.append("  used by no node record")
            lines.append("  repair: " + _REPAIR.format(id=self.input_hash, path=self.path))
            return "\n".join(lines)
        (use,) = self.uses
        held = f"the result holds {self.found_hash}" if self.found_hash else "no result is stored"
        return "\n".join(
            [
                f"MISMATCH record of {use.describe()} at {self.path!r}: it says input "
                f"{self.input_hash} gave output hash {self.stored_hash}, but {held}",
                "  repair: run the pipeline again (the node records the result it uses); if "
                f"the result is wrong, {_REPAIR.format(id=self.input_hash, path=self.path)}",
            ]
        )


@dataclass
class VerifyReport:
    """What verify checked and what it found."""

    results: int = 0
    records: int = 0
    files: int = 0
    problems: list[Problem] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)
    """Results tables whose files could not be checked, and why."""


def _records_of_pipelines(
    database: ArrowDatabase, pipeline: str | None
) -> tuple[dict[str, list[NodeUse]], int]:
    """Function-node records by input hash, and how many there are.

    Raises:
        UsageError: ``pipeline`` has no function-node records in the store.
    """
    uses: dict[str, list[NodeUse]] = defaultdict(list)
    count = 0
    pipelines: set[str] = set()
    prefix = () if pipeline is None else (pipeline,)
    for path in database.list_paths(prefix):
        if len(path) != 3 or path[0] == RESULTS_BRANCH or path[1] in _OBSERVER_BRANCHES:
            continue
        table = database.get_all_records(path)
        if table is None or not {INPUT_HASH, OUTPUT_HASH} <= set(table.column_names):
            continue  # an operator node's rows, or not a node at all
        pipelines.add(path[0])
        tag_names = [n for n in table.column_names if not n.startswith("__") and n != PROVENANCE]
        tags = table.select(tag_names).to_pylist()
        inputs = table.column(INPUT_HASH).to_pylist()
        outputs = table.column(OUTPUT_HASH).to_pylist()
        for tag, input_hash, output_hash in zip(tags, inputs, outputs, strict=True):
            uses[input_hash].append(NodeUse(path[0], path[1], tag, output_hash))
            count += 1
    if pipeline is not None and pipeline not in pipelines:
        raise UsageError(_unknown_pipeline(database, pipeline))
    return uses, count


def _unknown_pipeline(database: ArrowDatabase, pipeline: str) -> str:
    known = sorted({p[0] for p in database.list_paths() if p[0] != RESULTS_BRANCH and len(p) == 3})
    return (
        f"the store holds no function-node records of pipeline {pipeline!r}; "
        f"pipelines with records: {', '.join(map(repr, known)) or 'none'}"
    )


def _output_columns(table: pa.Table) -> list[str]:
    """The output columns of a results table: between the input hash and the output hash."""
    names: list[str] = list(table.column_names)
    return names[names.index(INPUT_HASH) + 1 : names.index(OUTPUT_HASH)]


def _check_results(
    database: ArrowDatabase,
    path: RecordPath,
    uses: dict[str, list[NodeUse]],
    wanted: set[tuple[str, str]] | None,
    report: VerifyReport,
    hasher: FileHasher,
) -> dict[str, set[str]]:
    """Rehash one results table; the stored output hashes by input hash."""
    repairs = path[-1].endswith(REPAIRS_SUFFIX)
    table = database.get_all_records(path, record_id_column=REPAIR_ID if repairs else INPUT_HASH)
    if table is None:
        return {}
    if OUTPUT_HASH not in table.column_names:
        raise StoreCorruptedError(
            f"the results table {path!r} has no {OUTPUT_HASH!r} column: it was not written "
            "by orcapod's result cache, or was altered; move it away so that its results "
            "are computed again"
        )
    inputs = table.column(INPUT_HASH).to_pylist()
    stored = table.column(OUTPUT_HASH).to_pylist()
    if wanted is not None:
        keep = [(i, s) in wanted for i, s in zip(inputs, stored, strict=True)]
        table = table.filter(keep)
        inputs = [i for i, k in zip(inputs, keep, strict=True) if k]
        stored = [s for s, k in zip(stored, keep, strict=True) if k]
    found = hash_table_rows(table.select(_output_columns(table)))
    report.results += len(inputs)
    held: dict[str, set[str]] = defaultdict(set)
    for input_hash, stored_hash, found_hash in zip(inputs, stored, found, strict=True):
        held[input_hash].add(stored_hash)
        if found_hash != stored_hash:
            users = tuple(u for u in uses.get(input_hash, ()) if u.output_hash == stored_hash)
            report.problems.append(
                Problem("result", path, input_hash, stored_hash, found_hash, users)
            )
    if not repairs:
        _check_files(database, path, table, uses, report, hasher)
    return held


def _check_files(
    database: ArrowDatabase,
    path: RecordPath,
    table: pa.Table,
    uses: dict[str, list[NodeUse]],
    report: VerifyReport,
    hasher: FileHasher,
) -> None:
    """Read again every file the results name; report those missing or altered, unless
    a repair of their result is stored with its files intact."""
    try:
        schema = Schema.from_arrow(table.select(_output_columns(table)).schema)
    except UnsupportedTypeError as error:  # a dataclass renamed since, a plugin gone...
        report.unchecked.append(f"{path!r}: its output files were not checked: {error}")
        return
    # the store beside the database: where a moved store's files are found by digest
    outputs = FileOutputs(schema, default_file_store(database))
    if not outputs.columns:
        return
    rows = list(range(table.num_rows))
    with hashing_with(hasher):
        damaged = outputs.damaged_rows(table, rows)
        report.files += sum(len(outputs.files_of(table, row)) for row in rows)
        if not damaged:
            return
        inputs = table.column(INPUT_HASH).to_pylist()
        stored = table.column(OUTPUT_HASH).to_pylist()
        repairs_path = (*path[:-1], path[-1] + REPAIRS_SUFFIX)
        moved = outputs.relocated(table, damaged)
        for row in damaged:
            if row in moved or _repaired(database, repairs_path, outputs, inputs[row], stored[row]):
                continue
            users = tuple(u for u in uses.get(inputs[row], ()) if u.output_hash == stored[row])
            lost = outputs.damaged_files(table, row)
            report.problems.append(
                Problem("file", path, inputs[row], stored[row], ", ".join(lost), users)
            )


def _repaired(
    database: ArrowDatabase,
    repairs_path: RecordPath,
    outputs: FileOutputs,
    input_hash: str,
    output_hash: str,
) -> bool:
    """Whether the chain of repairs of this damaged result ends in one that is intact."""
    for _ in range(MAX_REPAIRS):
        found = database.get_records_by_ids(
            repairs_path, [f"{input_hash}|{output_hash}"], record_id_column=REPAIR_ID
        )
        if found is None or found.num_rows == 0:
            return False
        if not outputs.damaged_rows(found, [0]):
            return True
        output_hash = found.column(OUTPUT_HASH)[0].as_py()
    return False


def verify_store(database: ArrowDatabase, pipeline: str | None = None) -> VerifyReport:
    """Rehash every stored result (of ``pipeline``'s records only, if given).

    Raises:
        UsageError: ``pipeline`` has no function-node records in the store.
        DatabaseError: the store cannot be read (``StoreCorruptedError`` when damaged).
    """
    uses, count = _records_of_pipelines(database, pipeline)
    report = VerifyReport(records=count)
    hasher = FileHasher(strict=True)  # every file is read: the cache is what is checked
    wanted = None
    if pipeline is not None:
        wanted = {(i, u.output_hash) for i, found in uses.items() for u in found}
    held: dict[str, set[str]] = defaultdict(set)
    for path in database.list_paths((RESULTS_BRANCH,)):
        if len(path) == 3:
            checked = _check_results(database, path, uses, wanted, report, hasher)
            for input_hash, hashes in checked.items():
                held[input_hash] |= hashes
    for input_hash, node_uses in uses.items():
        for use in node_uses:
            if use.output_hash not in held.get(input_hash, set()):
                stored = sorted(held.get(input_hash, set()))
                report.problems.append(
                    Problem(
                        "record",
                        (use.pipeline, use.node),
                        input_hash,
                        use.output_hash,
                        ", ".join(stored) or None,
                        (use,),
                    )
                )
    return report


class VerifyCommand:
    """``orcapod verify URI [--pipeline P]``."""

    help = (
        "rehash every stored result against its stored output hash (like git fsck); "
        "exit 1 on a mismatch"
    )

    def __init__(self, host: CliHost) -> None:
        self.host = host

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """``URI`` and ``--pipeline``."""
        parser.add_argument("uri", metavar="URI", help="the store, e.g. sqlite:///results.db")
        parser.add_argument(
            "--pipeline",
            metavar="P",
            help="check only the results pipeline P's function nodes recorded",
        )

    def run(self, args: argparse.Namespace) -> int:
        """0: every result checked is intact; 1: a mismatch (or damage); 2: cannot check."""
        try:
            database = self.host.open_database(args.uri, create=False)
        except (OrcapodError, ValueError, OSError, ImportError) as error:
            return _fail(f"cannot open {args.uri!r}: {error}", 2)
        try:
            report = verify_store(database, args.pipeline)
        except UsageError as error:
            return _fail(str(error), 2)
        except OrcapodError as error:
            return _fail(str(error), 1)
        finally:
            database.close()
        for problem in report.problems:
            print(problem.describe())
        for unchecked in report.unchecked:
            print(f"NOT CHECKED {unchecked}")
        scope = "" if args.pipeline is None else f" of pipeline {args.pipeline!r}"
        records = f"{report.records} node record(s)"
        if report.files:
            checked = f", {records} and {report.files} stored file(s)"
        else:
            checked = f" and {records}"
        summary = (
            f"checked {report.results} result(s){scope}{checked}: "
            f"{len(report.problems) or 'no'} mismatch(es)"
        )
        print(summary)
        return 1 if report.problems else 0


def _fail(message: str, status: int) -> int:
    print(f"orcapod verify: error: {message}", file=sys.stderr)
    return status
