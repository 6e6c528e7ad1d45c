"""``explain``: why a run of a function node computed each packet it computed, from the store.

Reads only what function nodes record (``_records``), never the pipeline's
code:

- the node's runs at ``(P, "_node_runs")`` pick the run (by default the
  latest) and the one before it;
- the packets the run called the function for at ``(P, "_computed", label,
  hash)``;
- each packet's tag's *earlier state*: its latest ``_computed`` row of an
  earlier run of the node (any version), else one of the node's records at
  ``(P, label, hash)`` (any version; of the run's own version only with
  another input);
- the identities of the node's versions at ``(P, "_identities")``, to say
  what changed in the function (its version, body, globals, helpers,
  distributions...) and why the node's table moved.

Everything per packet is vectorised with Arrow (tags are matched by their
row hash); Python runs once per distinct reason, not per packet.
"""

from __future__ import annotations

import json
import math
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from orcapod.core._walks import run_recursive
from orcapod.core.errors import ExplainError
from orcapod.core.hashing import LOGICAL_TYPE_KEY, hash_table_rows
from orcapod.core.pipeline._records import (
    COLUMN_HASHES,
    COLUMN_SEPARATOR,
    INPUT_HASH,
    NODE_HASH,
    NODE_LABEL,
    NODE_RUNS_BRANCH,
    OUTCOME,
    RUN_ID,
    STARTED_AT,
    computed_packets,
    computed_path,
    identities_path,
    node_runs_path,
)
from orcapod.protocols.errors import OrcapodError

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Generator, Mapping, Sequence

    from orcapod.protocols.database import ArrowDatabase
    from orcapod.protocols.hooks import CliHost

__all__ = ["ExplainCommand", "Explanation", "explain"]

REASON = "__reason"
OUTCOME_COLUMN = "__outcome"
"""The packets table's own columns: named like system columns, so no tag can clash."""
_STR = pa.large_string()
_STRINGS = pa.list_(_STR)
_EXAMPLES = 3
"""Tags shown per reason in the text report."""
_CODE_WORDS = {"function": "helper", "class": "class", "wrapper": "wrapper", "module": "module"}
_NEVER = -(2**62)
"""The start of a run that has no ``_node_runs`` record: earlier than any."""


@dataclass(frozen=True)
class Explanation:
    """Why one run of a function node computed the packets it computed.

    Attributes:
        pipeline: the pipeline's name.
        label: the node's label.
        run_id: the run explained.
        node_hash: the node's pipeline hash in that run.
        started_at: when the node's run started (UTC).
        previous_run_id: the node's run before it, or ``None`` (its first).
        moved: why the node's table is not the previous run's (its pipeline
            hash changed, and which part); empty when it is the same table, or
            there is no previous run.
        reasons: (reason, packets) pairs, most packets first. A packet with
            several reasons counts once, under their text joined by ``"; "``.
        computed: packets the run computed.
        failed: packets whose function failed (after its attempts).
        packets: one row per packet explained: its tag columns, ``__outcome``
            (``computed`` or ``failed``) and ``__reason``.
    """

    pipeline: str
    label: str
    run_id: str
    node_hash: str
    started_at: datetime | None
    previous_run_id: str | None
    moved: tuple[str, ...]
    reasons: tuple[tuple[str, int], ...]
    computed: int
    failed: int
    packets: pa.Table = field(repr=False)

    def __str__(self) -> str:
        started = (
            "" if self.started_at is None else f" (started {self.started_at:%Y-%m-%d %H:%M:%S} UTC)"
        )
        lines = [
            f"node {self.label!r} of pipeline {self.pipeline!r}, run {self.run_id}{started}",
            f"  {self.computed} packet(s) computed, {self.failed} failed",
        ]
        if self.previous_run_id is None:
            lines.append("  no earlier run of this node is recorded")
        elif self.moved:
            lines.append(
                f"  its table moved since the previous run ({self.previous_run_id}): "
                "its pipeline hash changed"
            )
            lines += [f"    {line}" for line in self.moved]
        else:
            lines.append(f"  previous run: {self.previous_run_id} (same table)")
        if not self.reasons:
            lines.append("  nothing was computed: every packet's result was stored already")
            return "\n".join(lines)
        lines.append("  why:")
        width = len(str(self.reasons[0][1]))
        tags = [name for name in self.packets.column_names if name not in (REASON, OUTCOME_COLUMN)]
        for reason, count in self.reasons:
            lines.append(f"    {count:>{width}}  {reason}")
            examples = self._examples(reason, tags)
            if examples:
                lines.append(f"    {'':>{width}}  e.g. {examples}")
        return "\n".join(lines)

    def _examples(self, reason: str, tags: list[str]) -> str:
        if not tags:
            return ""
        mask = pc.equal(self.packets.column(REASON), pa.scalar(reason, _STR))
        rows = self.packets.filter(mask).slice(0, _EXAMPLES).select(tags).to_pylist()
        shown = ["(" + ", ".join(f"{k}={v!r}" for k, v in row.items()) + ")" for row in rows]
        count = pc.sum(mask.cast(pa.int64())).as_py() or 0
        more = f" and {count - len(rows)} more" if count > len(rows) else ""
        return ", ".join(shown) + more

    def to_dict(self, *, packets: bool = True) -> dict[str, Any]:
        """As plain data (for ``--json``); ``packets=False`` leaves the packets out."""
        data: dict[str, Any] = {
            "pipeline": self.pipeline,
            "node": self.label,
            "run_id": self.run_id,
            "node_hash": self.node_hash,
            "started_at": None if self.started_at is None else self.started_at.isoformat(),
            "previous_run_id": self.previous_run_id,
            "moved": list(self.moved),
            "computed": self.computed,
            "failed": self.failed,
            "reasons": [{"reason": reason, "count": count} for reason, count in self.reasons],
        }
        if packets:
            data["packets"] = [_packet_dict(row) for row in self.packets.to_pylist()]
        return data


def explain(
    database: ArrowDatabase, pipeline: str, label: str, run_id: str | None = None
) -> Explanation:
    """Why run ``run_id`` (default: the latest) of function node ``label`` computed its packets.

    Raises:
        ExplainError: the store records no run of such a pipeline, node or run
            (naming what it does record).
    """
    runs = _node_runs(database, pipeline, label)
    starts = runs.column(STARTED_AT).cast(pa.int64()).to_pylist()
    ids = runs.column(RUN_ID).to_pylist()
    hashes = runs.column(NODE_HASH).to_pylist()
    if run_id is None:
        at = len(ids) - 1
    elif run_id in ids:
        at = ids.index(run_id)
    else:
        known = ", ".join(f"{r} ({_when(s)})" for r, s in list(zip(ids, starts, strict=True))[-10:])
        raise ExplainError(
            f"run {run_id!r} did not run node {label!r} of pipeline {pipeline!r}; its recorded "
            f"runs, oldest first: {known}"
        )
    run, node_hash, start = ids[at], hashes[at], starts[at]
    previous = (ids[at - 1], hashes[at - 1]) if at > 0 else None
    identities = _identities(database, pipeline)
    moved: tuple[str, ...] = ()
    if previous is not None and previous[1] != node_hash:
        moved = tuple(run_recursive(_moved(identities, label, previous[1], node_hash, set())))
    run_starts = dict(zip(ids, starts, strict=True))
    # Each version by its latest run before this one: the latest states are read first.
    latest: dict[str, int] = {}
    for other, version, began in zip(ids, hashes, starts, strict=True):
        if began < start and other != run:
            latest[version] = max(latest.get(version, _NEVER), began)
    versions = sorted(
        dict.fromkeys([*hashes, *(h for (n, h) in identities if n == label)]),
        key=lambda version: latest.get(version, _NEVER),
        reverse=True,
    )
    own = computed_packets(database.get_all_records(computed_path(pipeline, label, node_hash)))
    mine = None
    if own is not None and RUN_ID in own.column_names:
        # The run's packets it called the function for (not those found stored).
        ran = pc.and_(
            pc.equal(own.column(RUN_ID), pa.scalar(run, _STR)),
            pc.not_equal(own.column(OUTCOME), pa.scalar("cached", _STR)),
        )
        mine = own.filter(ran)
    started_at = datetime.fromtimestamp(start / 1e6, UTC) if start != _NEVER else None
    base: dict[str, Any] = {
        "pipeline": pipeline,
        "label": label,
        "run_id": run,
        "node_hash": node_hash,
        "started_at": started_at,
        "previous_run_id": None if previous is None else previous[0],
        "moved": moved,
    }
    if mine is None or mine.num_rows == 0:
        empty = pa.schema([pa.field(OUTCOME_COLUMN, _STR), pa.field(REASON, _STR)]).empty_table()
        return Explanation(**base, reasons=(), computed=0, failed=0, packets=empty)

    tags = _tag_names(mine)
    tag_keys = _tag_keys(mine, tags)
    inputs = mine.column(INPUT_HASH).cast(_STR)

    read_tables: dict[str, pa.Table | None] = {node_hash: own}

    def read(version: str) -> pa.Table | None:
        if version not in read_tables:
            stored = database.get_all_records(computed_path(pipeline, label, version))
            read_tables[version] = computed_packets(stored)
        return read_tables[version]

    states, positions = _earlier_computed(
        read, versions, latest, tag_keys, run=run, start=start, run_starts=run_starts
    )
    if positions.null_count:
        # Node records carry no time: only versions that existed before the run count.
        existed = [
            version
            for version in versions
            if (label, version) not in identities
            or _micros(identities[(label, version)]["__recorded_at"]) <= start
        ]
        # A record some run of the node recorded in _computed is that run's (maybe a
        # later one's): only records from before explain's records count here.
        recorded = [pc.binary_join_element_wise(tag_keys, inputs, pa.scalar("|", _STR))]
        for version in existed:
            table = read(version)
            if table is not None and table.num_rows and INPUT_HASH in table.column_names:
                keys = _tag_keys(table, _tag_names(table))
                inputs_of = table.column(INPUT_HASH).cast(_STR)
                recorded.append(pc.binary_join_element_wise(keys, inputs_of, pa.scalar("|", _STR)))
        records = _node_records(
            database,
            pipeline,
            label,
            existed,
            node_hash,
            identities,
            pa.concat_arrays([_plain(keys) for keys in recorded]),
        )
        found = pc.add(pc.index_in(tag_keys, value_set=records.column("tag")), states.num_rows)
        positions = pc.coalesce(positions, found)
        states = pa.concat_tables([states, records])
    before = _fill_column_hashes(states).take(positions)
    keys = _keys(mine, before, inputs, positions, identities.get((label, node_hash)))
    encoded = pc.dictionary_encode(keys).combine_chunks()
    # Without tags, a packet is known by its input alone: a new one is a new packet.
    new = "new tag" if tags else "new packet"
    texts = [
        _reason(key, label, identities.get((label, node_hash)), identities, new=new)
        for key in encoded.dictionary.to_pylist()
    ]
    reason_of_row = pa.array(texts, _STR).take(encoded.indices)
    counts: Counter[str] = Counter()
    tallies = pc.value_counts(encoded.indices)
    for index, count in zip(
        tallies.field("values").to_pylist(), tallies.field("counts").to_pylist(), strict=True
    ):
        counts[texts[index]] += count
    outcomes = mine.column(OUTCOME).cast(_STR)
    failed = pc.sum(pc.equal(outcomes, pa.scalar("failed", _STR)).cast(pa.int64())).as_py() or 0
    packets = pa.Table.from_arrays(
        [*(mine.column(name) for name in tags), outcomes, reason_of_row],
        names=[*tags, OUTCOME_COLUMN, REASON],
    )
    return Explanation(
        **base,
        reasons=tuple(sorted(counts.items(), key=lambda item: (-item[1], item[0]))),
        computed=mine.num_rows - failed,
        failed=failed,
        packets=packets,
    )


# -- reading the records -------------------------------------------------------


def _node_runs(database: ArrowDatabase, pipeline: str, label: str) -> pa.Table:
    """The node's recorded runs, oldest first.

    Raises:
        ExplainError: none is recorded, naming the pipelines or nodes that have runs.
    """
    records = database.get_all_records(node_runs_path(pipeline))
    if records is None or records.num_rows == 0:
        known = sorted(
            {p[0] for p in database.list_paths() if len(p) == 2 and p[1] == NODE_RUNS_BRANCH}
        )
        raise ExplainError(
            f"the store records no function-node runs of pipeline {pipeline!r}; pipelines "
            f"with recorded runs: {_listing(known)}"
        )
    runs = records.filter(pc.equal(records.column(NODE_LABEL), pa.scalar(label, _STR)))
    if runs.num_rows == 0:
        nodes = sorted(set(records.column(NODE_LABEL).to_pylist()))
        stored = bool(database.list_paths((pipeline, label)))
        why = (
            "it has stored rows, so it is an operator node (only function nodes are explained) "
            "or its runs were made before orcapod recorded them; "
            if stored
            else ""
        )
        raise ExplainError(
            f"pipeline {pipeline!r} records no run of a function node {label!r}; {why}"
            f"function nodes with recorded runs: {_listing(nodes)}"
        )
    starts = runs.column(STARTED_AT).cast(pa.timestamp("us", "UTC")).cast(pa.int64())
    runs = runs.set_column(runs.schema.get_field_index(STARTED_AT), STARTED_AT, starts)
    return runs.sort_by([(STARTED_AT, "ascending"), (RUN_ID, "ascending")])


def _identities(database: ArrowDatabase, pipeline: str) -> dict[tuple[str, str], dict[str, Any]]:
    """Every node version's identity record, by (label, node hash)."""
    records = database.get_all_records(identities_path(pipeline))
    if records is None:
        return {}
    return {(row[NODE_LABEL], row[NODE_HASH]): row for row in records.to_pylist()}


def _tag_names(table: pa.Table) -> list[str]:
    return [name for name in table.column_names if not name.startswith("__")]


def _tag_keys(table: pa.Table, tags: Sequence[str]) -> pa.Array:
    """A key per row naming its tag: equal keys, equal tags (names, logical types, values).

    One tag column of integers or strings (the common case) is its own key,
    prefixed with its name and type; any other tag is its row hash. Rows of a
    stream without tags are told apart by their input packet alone.
    """
    if not tags:
        return table.column(INPUT_HASH).combine_chunks().cast(_STR)
    if len(tags) == 1:
        column = table.column(tags[0])
        kind = column.type
        word = (
            "int"
            if pa.types.is_integer(kind)
            else "str"
            if pa.types.is_string(kind) or pa.types.is_large_string(kind)
            else None
        )
        if word is not None and LOGICAL_TYPE_KEY not in (
            table.schema.field(tags[0]).metadata or {}
        ):
            prefix = pa.scalar(f"{len(tags[0])}:{tags[0]}:{word}:", _STR)
            values = column.combine_chunks().cast(_STR)
            return pc.binary_join_element_wise(prefix, values, pa.scalar("", _STR))
    return pa.array(hash_table_rows(table, list(tags)), _STR)


_STATE_SCHEMA = pa.schema(
    [
        pa.field("tag", _STR),
        pa.field("version", _STR),
        pa.field("input", _STR),
        pa.field("failed", pa.bool_()),
        pa.field("columns", _STRINGS),
        pa.field("start", pa.int64()),
    ]
)


def _earlier_computed(
    read: Callable[[str], pa.Table | None],
    versions: Sequence[str],
    latest: Mapping[str, int],
    tag_keys: pa.Array,
    *,
    run: str,
    start: int,
    run_starts: Mapping[str, int],
) -> tuple[pa.Table, pa.Array]:
    """The packets earlier runs of the node computed (any version), latest run first, and
    per packet of the run, the position there of its tag's latest earlier state (or null).

    Versions are read in the order of their latest earlier run, and no more once
    every packet's state is at least as late as any run of the versions left.
    """
    known = pa.array(list(run_starts), _STR)
    known_starts = pa.array(list(run_starts.values()), pa.int64())
    parts: list[pa.Table] = []
    states = _STATE_SCHEMA.empty_table()
    positions = pa.nulls(len(tag_keys), pa.int32())
    for version in versions:
        if parts and positions.null_count == 0:
            found = states.column("start").take(positions)
            if pc.min(found).as_py() >= latest.get(version, _NEVER):
                break
        table = read(version)
        if table is None or table.num_rows == 0 or RUN_ID not in table.column_names:
            continue
        runs = table.column(RUN_ID).cast(_STR)
        starts = pc.fill_null(known_starts.take(pc.index_in(runs, value_set=known)), _NEVER)
        keep = pc.and_(
            pc.less(starts, pa.scalar(start, pa.int64())),
            pc.not_equal(runs, pa.scalar(run, _STR)),
        )
        table, starts = table.filter(keep), starts.filter(keep)
        if table.num_rows == 0:
            continue
        count = table.num_rows
        columns = (
            _column_hashes(table.column(COLUMN_HASHES))
            if COLUMN_HASHES in table.column_names
            else pa.nulls(count, _STRINGS)
        )
        parts.append(
            pa.Table.from_arrays(
                [
                    _tag_keys(table, _tag_names(table)),
                    pa.repeat(pa.scalar(version, _STR), count),
                    table.column(INPUT_HASH).cast(_STR),
                    pc.equal(table.column(OUTCOME).cast(_STR), pa.scalar("failed", _STR)),
                    columns,
                    starts,
                ],
                schema=_STATE_SCHEMA,
            )
        )
        states = pa.concat_tables(parts).sort_by([("start", "descending")])
        positions = pc.index_in(tag_keys, value_set=states.column("tag"))
    return states, positions


def _node_records(
    database: ArrowDatabase,
    pipeline: str,
    label: str,
    versions: Sequence[str],
    node_hash: str,
    identities: Mapping[tuple[str, str], Mapping[str, Any]],
    recorded_keys: pa.Array,
) -> pa.Table:
    """The node's records (tag, input) of every version, as earlier states: those of
    runs from before explain's records (which carry no time).

    A record whose tag and input are in ``recorded_keys`` (the run's own
    packets, and every packet a run recorded in ``_computed``) is left out: a
    run of explain's time wrote it, maybe the run explained or a later one.
    Versions recorded later come first.
    """

    def recorded(version: str) -> Any:
        row = identities.get((label, version))
        return row["__recorded_at"] if row is not None else datetime.min.replace(tzinfo=UTC)

    parts = []
    for version in sorted(versions, key=recorded, reverse=True):
        table = database.get_all_records((pipeline, label, version.replace(":", "-")))
        if table is None or table.num_rows == 0 or INPUT_HASH not in table.column_names:
            continue
        tag_hashes = _tag_keys(table, _tag_names(table))
        inputs = table.column(INPUT_HASH).cast(_STR)
        keys = pc.binary_join_element_wise(tag_hashes, inputs, pa.scalar("|", _STR))
        keep = pc.invert(pc.is_in(keys, value_set=recorded_keys))
        tag_hashes, inputs = tag_hashes.filter(keep), inputs.filter(keep)
        count = len(tag_hashes)
        parts.append(
            pa.Table.from_arrays(
                [
                    tag_hashes,
                    pa.repeat(pa.scalar(version, _STR), count),
                    inputs,
                    pa.repeat(pa.scalar(False), count),
                    pa.nulls(count, _STRINGS),
                    pa.repeat(pa.scalar(_NEVER, pa.int64()), count),
                ],
                schema=_STATE_SCHEMA,
            )
        )
    if not parts:
        return _STATE_SCHEMA.empty_table()
    return pa.concat_tables(parts)


# -- the reasons -----------------------------------------------------------------


def _keys(
    mine: pa.Table,
    before: pa.Table,
    inputs: pa.Array,
    positions: pa.Array,
    current: Mapping[str, Any] | None,
) -> pa.Array:
    """Per packet, a key naming its reason: ``new``, or ``old|version|same|failed|mask``.

    ``mask`` has a ``1`` per input column (sorted by name) whose hash differs
    from the earlier state's; it is empty when the column hashes cannot be
    compared (one column, or an earlier state without them).
    """
    count = mine.num_rows
    sep = pa.scalar("|", _STR)
    same = pc.equal(before.column("input"), inputs)
    width = len(current["__input_columns"] or []) if current is not None else 0
    mask = pa.repeat(pa.scalar("", _STR), count)
    if width > 1 and COLUMN_HASHES in mine.column_names:
        now = _column_hashes(mine.column(COLUMN_HASHES))
        then = before.column("columns")
        both = pc.and_(
            pc.fill_null(pc.equal(pc.list_value_length(now), width), False),
            pc.fill_null(pc.equal(pc.list_value_length(then), width), False),
        )
        if pc.any(both).as_py():
            nulls = pa.nulls(count, _STRINGS)
            now, then = pc.if_else(both, now, nulls), pc.if_else(both, then, nulls)
            bits = [
                pc.if_else(
                    pc.fill_null(
                        pc.not_equal(pc.list_element(now, j), pc.list_element(then, j)), False
                    ),
                    pa.scalar("1", _STR),
                    pa.scalar("0", _STR),
                )
                for j in range(width)
            ]
            joined = pc.binary_join_element_wise(*bits, pa.scalar("", _STR))
            mask = pc.if_else(both, joined, mask)
    old = pc.binary_join_element_wise(
        pa.repeat(pa.scalar("old", _STR), count),
        before.column("version"),
        pc.if_else(same, pa.scalar("1", _STR), pa.scalar("0", _STR)),
        pc.if_else(before.column("failed"), pa.scalar("1", _STR), pa.scalar("0", _STR)),
        mask,
        sep,
    )
    return pc.if_else(pc.is_null(positions), pa.scalar("new", _STR), old)


def _reason(
    key: str,
    label: str,
    current: Mapping[str, Any] | None,
    identities: Mapping[tuple[str, str], Mapping[str, Any]],
    *,
    new: str = "new tag",
) -> str:
    """The text of one reason key (see :func:`_keys`)."""
    if key == "new":
        return new
    _, version, same, failed, mask = key.split("|")
    earlier = identities.get((label, version))
    parts: list[str] = []
    if current is None or earlier is None:
        if version != (current or {}).get(NODE_HASH):
            parts.append("function or upstream changed (an identity is not recorded)")
    elif earlier["__identity"] != current["__identity"]:
        parts += identity_changes(earlier, current)
    if same != "1":
        parts.append(_input_change(earlier, current, mask))
    if not parts:
        parts.append("earlier attempt failed" if failed == "1" else "stored result missing")
    return "; ".join(parts)


def _input_change(
    earlier: Mapping[str, Any] | None, current: Mapping[str, Any] | None, mask: str
) -> str:
    now = list((current or {}).get("__input_columns") or [])
    then = None if earlier is None else list(earlier.get("__input_columns") or [])
    if then != now:
        return "input changed"
    if mask:
        changed = [name for name, bit in zip(now, mask, strict=True) if bit == "1"]
    elif len(now) == 1:
        changed = now
    else:
        changed = []
    if not changed:
        return "input changed"
    names = ", ".join(f"`{name}`" for name in changed)
    return f"input changed: column{'s' if len(changed) > 1 else ''} {names}"


def identity_changes(earlier: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """What differs between two identity records of a node, one line per part."""
    lines = []
    if earlier["__function"] != current["__function"]:
        lines.append(f"function renamed `{earlier['__function']}` → `{current['__function']}`")
    if earlier["__version"] != current["__version"]:
        lines.append(f"version {earlier['__version']} → {current['__version']}")
    if earlier["__source_hash"] != current["__source_hash"]:
        lines.append(f"function changed: body of `{current['__function']}`")
    if earlier["__input_schema_hash"] != current["__input_schema_hash"]:
        lines.append("function changed: its input types")
    if earlier["__output_schema_hash"] != current["__output_schema_hash"]:
        lines.append("function changed: its output types")
    then = {c["name"]: c for c in earlier["__components"] or []}
    now = {c["name"]: c for c in current["__components"] or []}
    for name, component in now.items():
        old = then.get(name)
        if old is None:
            lines.append(f"new dependency `{name}`")
        elif (old["kind"], old["digest"]) != (component["kind"], component["digest"]):
            lines.append(_component_change(name, old, component))
    lines += [f"dependency `{name}` removed" for name in then if name not in now]
    return lines or ["function changed"]


def _component_change(name: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    kind, before, after = new["kind"], old["shown"] or "", new["shown"] or ""
    if old["kind"] != kind:
        return f"`{name}`: {old['kind']} → {kind}"
    if kind in _CODE_WORDS:
        return f"function changed: {_CODE_WORDS[kind]} `{name}` ({after or 'body'})"
    if kind == "distribution":
        first, _, rest = after.partition(" ")
        if rest and before.partition(" ")[0] == first:
            after = rest
        return f"distribution {before or name} → {after}"
    word = "dependency" if kind == "declared" else kind
    if before and after and before != after:
        return f"{word} `{name}`: {before} → {after}"
    return f"{word} `{name}` changed"


def _moved(
    identities: Mapping[tuple[str, str], Mapping[str, Any]],
    label: str,
    then: str,
    now: str,
    seen: set[tuple[str, str]],
) -> Generator[Any, list[str], list[str]]:
    """Why node ``label``'s pipeline hash is ``now``, not ``then``: its function, its upstreams.

    Run by ``run_recursive``: it asks why each upstream moved by yielding the call
    (when the first of a chain of function nodes thousands long changes, all move).
    """
    earlier, current = identities.get((label, then)), identities.get((label, now))
    if earlier is None or current is None or (label, now) in seen:
        return ["its pipeline hash changed (the identities are not recorded)"]
    seen.add((label, now))
    lines = []
    if earlier["__identity"] != current["__identity"]:
        lines += ["function changed", *identity_changes(earlier, current)]
        if lines[1] == "function changed":
            del lines[1]
    old_up = _upstreams(earlier)
    new_up = _upstreams(current)
    if [name for name, _ in old_up] != [name for name, _ in new_up]:
        names = ", ".join(f"`{name}`" for name, _ in old_up) or "none"
        lines.append(f"upstreams changed: {names} → " + ", ".join(f"`{n}`" for n, _ in new_up))
    else:
        for (name, old_hash), (_, new_hash) in zip(old_up, new_up, strict=True):
            if old_hash == new_hash:
                continue
            if (name, old_hash) in identities and (name, new_hash) in identities:
                deeper = yield _moved(identities, name, old_hash, new_hash, seen)
                deeper = [line for line in deeper if line != "function changed"] or [""]
                lines += [
                    f"upstream `{name}` changed" + (f": {line}" if line else "") for line in deeper
                ]
            else:
                lines.append(f"upstream `{name}` changed")
    return lines or ["its pipeline hash changed"]


def _upstreams(identity: Mapping[str, Any]) -> list[tuple[str, str]]:
    labels, hashes = identity["__upstream_labels"] or [], identity["__upstream_hashes"] or []
    return list(zip(labels, hashes, strict=True))


def _micros(moment: datetime | None) -> int:
    """``moment`` in microseconds since the epoch (``_NEVER`` for none)."""
    if moment is None:
        return _NEVER
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _when(micros: int) -> str:
    if micros == _NEVER:
        return "start unknown"
    return f"{datetime.fromtimestamp(micros / 1e6, UTC):%Y-%m-%d %H:%M:%S} UTC"


def _listing(names: Sequence[str]) -> str:
    return ", ".join(repr(name) for name in names) if names else "none"


# -- the command line ------------------------------------------------------------


class ExplainCommand:
    """``orcapod explain URI --pipeline P --node N [--run R] [--json]``."""

    help = "say why a run of a function node computed each packet it computed"

    def __init__(self, host: CliHost) -> None:
        self.host = host

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """``URI``, ``--pipeline``, ``--node``, ``--run`` and ``--json``."""
        parser.add_argument("uri", metavar="URI", help="the store, e.g. sqlite:///results.db")
        parser.add_argument(
            "--pipeline", metavar="P", help="the pipeline (needed when the store holds several)"
        )
        parser.add_argument("--node", metavar="N", required=True, help="the function node's label")
        parser.add_argument("--run", metavar="R", help="the run to explain (default: the latest)")
        parser.add_argument(
            "--json", action="store_true", help="print one JSON object, every packet included"
        )

    def run(self, args: argparse.Namespace) -> int:
        """0: explained; 1 (and one line on stderr): it cannot be."""
        try:
            database = self.host.open_database(args.uri, create=False)
        except (OrcapodError, ValueError, OSError, ImportError) as error:
            return _fail(f"cannot open {args.uri!r}: {error}")
        try:
            pipeline = args.pipeline or _only_pipeline(database)
            explanation = explain(database, pipeline, args.node, args.run)
            if args.json:
                print(json.dumps(explanation.to_dict(), indent=2, default=str, allow_nan=False))
            else:
                print(explanation)
        except OrcapodError as error:
            return _fail(str(error))
        finally:
            database.close()
        return 0


def _only_pipeline(database: ArrowDatabase) -> str:
    """The one pipeline whose function-node runs the store records.

    Raises:
        ExplainError: none, or several (naming them: pass ``--pipeline``).
    """
    known = sorted(
        {p[0] for p in database.list_paths() if len(p) == 2 and p[1] == NODE_RUNS_BRANCH}
    )
    if len(known) == 1:
        return known[0]
    if not known:
        raise ExplainError("the store records no function-node runs of any pipeline")
    raise ExplainError(f"the store holds several pipelines: {_listing(known)}; pass --pipeline")


def _fail(message: str) -> int:
    print(f"orcapod explain: error: {message}", file=sys.stderr)
    return 1


def _column_hashes(joined: pa.ChunkedArray | pa.Array) -> pa.Array:
    """The ``COLUMN_HASHES`` strings as lists of hashes (null stays null)."""
    strings = joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined
    return pc.split_pattern(strings.cast(_STR), COLUMN_SEPARATOR).cast(_STRINGS)


def _plain(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    combined = array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array
    return combined.cast(_STR)


def _fill_column_hashes(states: pa.Table) -> pa.Table:
    """Column hashes for states that have none (a packet found stored records none):
    those of another state with the same input, which a computation recorded."""
    columns = states.column("columns").combine_chunks()
    if columns.null_count in (0, len(columns)):
        return states
    has = columns.is_valid()
    inputs = states.column("input").combine_chunks()
    known = columns.filter(has)
    where = pc.index_in(inputs, value_set=inputs.filter(has))
    filled = pc.if_else(has, columns, known.take(where))
    return states.set_column(states.schema.get_field_index("columns"), "columns", filled)


def _packet_dict(row: dict[str, Any]) -> dict[str, Any]:
    tags = {k: _json_safe(v) for k, v in row.items() if k not in (OUTCOME_COLUMN, REASON)}
    return {"tags": tags, "outcome": row[OUTCOME_COLUMN], "reason": row[REASON]}


def _json_safe(value: Any) -> Any:
    """A tag value JSON can hold: NaN and infinities as their names (JSON has none)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    return value
