"""Reserved ``__`` columns, and the provenance system tag every row carries.

Columns whose names start with ``__`` belong to orcapod. User columns may not
use the prefix: sources reject such names when they are built.

Provenance: every row of a stream has a ``__provenance`` system tag, a list of
``"<source_id>:<record_id>"`` strings naming the source rows it derives from.
A source row's list holds its own reference; operators that combine rows (a
join) concatenate their inputs' lists in input order, each input adding only
the references an earlier input's list does not already hold (so a row whose
inputs derive from the same source rows, as the two branches of a diamond do,
names each of them once). Two rows with equal user tags but different origins
therefore stay distinct.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from orcapod.core.errors import SchemaError, SourceError

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "PROVENANCE",
    "PROVENANCE_TYPE",
    "SYSTEM_PREFIX",
    "check_source_id",
    "check_user_columns",
    "concat_lists",
    "concat_new_items",
    "is_system_column",
    "provenance_array",
    "row_numbers",
]

SYSTEM_PREFIX = "__"
PROVENANCE = "__provenance"
PROVENANCE_TYPE = pa.large_list(pa.field("item", pa.large_string(), nullable=False))

_SOURCE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")


def is_system_column(name: str) -> bool:
    """Whether ``name`` is a reserved system column name."""
    return name.startswith(SYSTEM_PREFIX)


def check_user_columns(names: Iterable[str], *, where: str) -> None:
    """Refuse user column names that use the reserved ``__`` prefix.

    Args:
        names: the user's column names.
        where: what the columns belong to, for the message (``"DictSource 'trials'"``).

    Raises:
        SchemaError: a name starts with ``__``; names it.
    """
    reserved = [name for name in names if is_system_column(name)]
    if reserved:
        raise SchemaError(
            f"{where}: column {reserved[0]!r} starts with {SYSTEM_PREFIX!r}, which is reserved "
            "for orcapod's system columns; rename the column."
        )


def check_source_id(source_id: object) -> str:
    """Return ``source_id`` if it can name a source in provenance records.

    Raises:
        SourceError: it is not a str of letters, digits, ``_``, ``.`` and ``-``, starting
            with a letter or digit.
    """
    if not isinstance(source_id, str) or _SOURCE_ID.fullmatch(source_id) is None:
        raise SourceError(
            f"source_id {source_id!r} is not valid: use letters, digits, '_', '.' and '-', "
            "starting with a letter or digit (e.g. 'trials-2024')."
        )
    return source_id


def provenance_array(source_id: str, record_ids: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The ``__provenance`` column of a source: ``["<source_id>:<record_id>"]`` per row."""
    ids = record_ids.cast(pa.large_string())
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    prefix = pa.scalar(f"{source_id}:", pa.large_string())
    references = pc.binary_join_element_wise(prefix, ids, pa.scalar("", pa.large_string()))
    offsets = row_numbers(len(references) + 1)
    return pa.LargeListArray.from_arrays(offsets, references, type=PROVENANCE_TYPE)


# Built from a buffer: pa.array/pa.scalar would make pyarrow import pandas at import time.
_numbers: pa.Array = pa.Array.from_buffers(pa.int64(), 0, [None, pa.py_buffer(b"")])


def row_numbers(count: int) -> pa.Array:
    """``0, 1, ..., count - 1`` as an int64 array.

    A slice of one shared array, grown (doubling) when a longer one is asked
    for, so repeated calls cost nothing and none runs a Python loop.
    """
    global _numbers
    numbers = _numbers
    if len(numbers) < count:
        size = max(count, 2 * len(numbers), 1024)
        ones = pa.repeat(pa.scalar(1, pa.int64()), size)
        numbers = _numbers = pc.subtract(pc.cumulative_sum(ones), 1)
    return numbers.slice(0, count)


def concat_lists(first: pa.Array, second: pa.Array) -> pa.Array:
    """Row by row, the items of ``first`` followed by those of ``second`` (two list arrays).

    Vectorised: the output's items are one ``take`` from both inputs' items,
    at indices computed by Arrow kernels; no Python loop runs over rows.
    """
    if len(first) != len(second):
        raise ValueError(f"cannot concatenate lists of {len(first)} and {len(second)} rows")
    first, second = _as_large_list(first), _as_large_list(second)
    first_lengths = pc.list_value_length(first).fill_null(0)
    second_lengths = pc.list_value_length(second).fill_null(0)
    lengths = pc.add(first_lengths, second_lengths)
    offsets = pa.concat_arrays([row_numbers(1), pc.cumulative_sum(lengths)])
    total = offsets[-1].as_py()
    first_items = pc.list_flatten(first)
    items = pa.concat_arrays([first_items, pc.list_flatten(second).cast(first_items.type)])
    # Each output item's row, its place in the row, and where its row starts in each input.
    row = pc.list_parent_indices(pa.LargeListArray.from_arrays(offsets, row_numbers(total)))
    place = pc.subtract(row_numbers(total), pc.take(offsets, row))
    first_count = pc.take(first_lengths, row)
    first_start = pc.take(_starts(first_lengths), row)
    second_start = pc.take(_starts(second_lengths), row)
    index = pc.if_else(
        pc.less(place, first_count),
        pc.add(first_start, place),
        pc.add(pc.add(second_start, len(first_items)), pc.subtract(place, first_count)),
    )
    return pa.LargeListArray.from_arrays(offsets, items.take(index), type=first.type)


def concat_new_items(first: pa.Array, second: pa.Array) -> pa.Array:
    """Row by row, the items of ``first`` followed by those of ``second`` that the
    row of ``first`` does not hold (two list arrays of strings).

    A join's provenance: the branches of a diamond carry the same references,
    and concatenating them all would double every row's list with each diamond.
    Inputs whose items cannot be equal (their ranges do not overlap, as for
    rows of different sources) are concatenated without hashing any item.
    """
    if len(first) != len(second):
        raise ValueError(f"cannot concatenate lists of {len(first)} and {len(second)} rows")
    first, second = _as_large_list(first), _as_large_list(second)
    return concat_lists(first, _not_held(second, first))


def _not_held(lists: pa.Array, holders: pa.Array) -> pa.Array:
    """Row by row, the items of ``lists`` that the same row of ``holders`` does not hold."""
    items, held = pc.list_flatten(lists), pc.list_flatten(holders)
    if len(items) == 0 or len(held) == 0:
        return lists
    low, high = pc.min_max(items).values()
    held_low, held_high = pc.min_max(held).values()
    if (high.is_valid and held_low.is_valid and high.as_py() < held_low.as_py()) or (
        held_high.is_valid and low.is_valid and held_high.as_py() < low.as_py()
    ):
        return lists  # no item of one is an item of the other: nothing is dropped
    # Each (row, item) as one int64 key: the item's code among both arrays' items.
    encoded = pc.dictionary_encode(pa.concat_arrays([held, items.cast(held.type)]))
    width = len(encoded.dictionary)
    rows = pa.concat_arrays([pc.list_parent_indices(holders), pc.list_parent_indices(lists)])
    keys = pc.add(pc.multiply(rows.cast(pa.int64()), width), encoded.indices.cast(pa.int64()))
    named = pc.is_in(keys.slice(len(held)), value_set=keys.slice(0, len(held)))
    if not pc.any(named).as_py():
        return lists
    kept = pc.invert(named)
    # Items kept before each position; a row's new bounds are those at its old bounds.
    before = pa.concat_arrays([row_numbers(1), pc.cumulative_sum(kept.cast(pa.int64()))])
    bounds = pc.subtract(lists.offsets, lists.offsets[0])
    return pa.LargeListArray.from_arrays(
        pc.take(before, bounds), items.filter(kept), type=lists.type
    )


def _starts(lengths: pa.Array) -> pa.Array:
    """Where each row's items start among all rows' items: an exclusive running sum."""
    return pc.subtract(pc.cumulative_sum(lengths), lengths)


def _as_large_list(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_large_list(array.type):
        return array
    return array.cast(pa.large_list(array.type.value_field))
