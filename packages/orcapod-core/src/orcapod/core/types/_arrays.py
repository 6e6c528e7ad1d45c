"""``numpy.ndarray`` as a logical type: dtype, shape and C-order bytes, plus the memory order.

Storage layout (the field ``numpy.ndarray`` of :mod:`._logical`)::

    struct<dtype: large_string, shape: large_list<int64>, order: large_string,
           data: large_binary>

- ``dtype``: ``numpy.dtype.str``, which names the kind, the item size and
  the byte order explicitly (``"<f8"``, ``">i4"``, ``"|b1"``, ``"<M8[ns]"``,
  ``"<U3"``), so it reads back as the same dtype on any machine.
- ``shape``: the array's shape (``[]`` for a 0-d array).
- ``order``: ``"F"`` for an array that is Fortran-contiguous and not
  C-contiguous, else ``"C"``. Not part of the identity.
- ``data``: the array's bytes in C order (``ndarray.tobytes(order="C")``), in
  its own byte order.

Only ``dtype``, ``shape`` and ``data`` identify an array (field metadata
``orcapod.identity``), so an F-ordered array hashes as the C-ordered array of
equal values, and reads back F-ordered. Arrays whose bytes are not their
values are refused: object dtypes, structured (void) dtypes, numpy's
variable-width ``StringDType``, and long doubles padded to 12 or 16 bytes (x86),
whose padding would make equal arrays differ.

numpy stays optional: nothing here imports it before a numpy annotation or
value is met, and a value of ``numpy.ndarray`` means numpy is imported already
(``sys.modules``). Reading a stored array column imports numpy.
"""

from __future__ import annotations

import math
import sys
import threading
import typing
from typing import Any

import pyarrow as pa

from orcapod.core.errors import UnsupportedTypeError
from orcapod.core.types._logical import LogicalType, register_logical_type

__all__ = ["ARRAY_STORAGE", "NAME", "array_type", "resolve", "resolve_name"]

NAME = "numpy.ndarray"
"""The logical type name stored in the field metadata of array columns."""

ARRAY_STORAGE = pa.struct(
    [
        pa.field("dtype", pa.large_string(), nullable=False),
        pa.field(
            "shape", pa.large_list(pa.field("item", pa.int64(), nullable=False)), nullable=False
        ),
        pa.field("order", pa.large_string(), nullable=False),
        pa.field("data", pa.large_binary(), nullable=False),
    ]
)
IDENTITY_FIELDS = ("dtype", "shape", "data")

# Kinds whose bytes are exactly the values: bool, signed and unsigned integers,
# floats, complex, datetime64, timedelta64, fixed-width bytes and unicode.
_STORABLE_KINDS = frozenset("biufcmMSU")

_ARRAY_TYPE: list[LogicalType] = []
_LOCK = threading.Lock()


def resolve(tp: Any) -> LogicalType | None:
    """The array logical type for ``numpy.ndarray`` and ``numpy.typing.NDArray[...]``.

    Never imports numpy: an annotation of numpy's classes means numpy is imported.
    """
    numpy = sys.modules.get("numpy")
    if numpy is None:
        return None
    if numpy.ndarray in (tp, typing.get_origin(tp), _aliased_class(tp)):
        return array_type()
    return None


def _aliased_class(tp: Any) -> Any:
    """The class a ``type`` alias names, subscripted or not (Python 3.12+), else None.

    From numpy 2.5, ``NDArray`` is such an alias: ``NDArray[np.float64]`` has the
    alias as its origin, and the alias's value is ``ndarray[shape, dtype]``.
    """
    alias_type = getattr(typing, "TypeAliasType", None)
    if alias_type is None:
        return None
    alias = typing.get_origin(tp) if not isinstance(tp, alias_type) else tp
    if not isinstance(alias, alias_type):
        return None
    value = alias.__value__
    return typing.get_origin(value) or value


def resolve_name(name: str) -> LogicalType | None:
    """The array logical type for its stored name (importing numpy to read arrays)."""
    if name != NAME:
        return None
    try:
        import numpy  # noqa: F401
    except ImportError:
        raise UnsupportedTypeError(
            "the column holds numpy arrays (logical type 'numpy.ndarray'), and numpy is not "
            "installed; install numpy to read it"
        ) from None
    return array_type()


def array_type() -> LogicalType:
    """The ``numpy.ndarray`` logical type (registered on first use)."""
    if _ARRAY_TYPE:
        return _ARRAY_TYPE[0]
    with _LOCK:
        if not _ARRAY_TYPE:
            _ARRAY_TYPE.append(register_logical_type(_make_array_type()))
    return _ARRAY_TYPE[0]


def _make_array_type() -> LogicalType:
    import numpy

    def to_storage(value: Any) -> dict[str, Any]:
        if type(value) is not numpy.ndarray:
            raise TypeError(
                f"{type(value).__qualname__} is a subclass of numpy.ndarray, whose extra state "
                "would be lost; pass numpy.asarray(value) (or store its parts as columns)"
            )
        dtype = value.dtype
        _check_dtype(dtype)
        fortran = value.flags.f_contiguous and not value.flags.c_contiguous
        return {
            "dtype": dtype.str,
            "shape": list(value.shape),
            "order": "F" if fortran else "C",
            "data": value.tobytes(order="C"),
        }

    def from_storage(stored: dict[str, Any]) -> Any:
        dtype = numpy.dtype(stored["dtype"])
        shape = tuple(stored["shape"])
        order = stored["order"]
        data = stored["data"]
        expected = math.prod(shape) * dtype.itemsize
        if len(data) != expected or order not in ("C", "F"):
            raise ValueError(
                f"a stored numpy array of dtype {dtype.str} and shape {shape} holds "
                f"{len(data)} bytes (expected {expected}) in order {order!r}; the stored "
                "value was altered"
            )
        flat = numpy.frombuffer(data, dtype=dtype) if expected else numpy.empty(0, dtype)
        return numpy.array(flat.reshape(shape), order=order, copy=True)

    return LogicalType(
        name=NAME,
        python_class=numpy.ndarray,
        storage_type=ARRAY_STORAGE,
        to_storage=to_storage,
        from_storage=from_storage,
        identity_fields=IDENTITY_FIELDS,
        description="a numpy array, identified by its dtype, shape and C-order bytes",
    )


def _padded(dtype: Any) -> bool:
    """Whether a float or complex dtype carries bytes that are not part of its value
    (the x86 80-bit long double, stored in 12 or 16 bytes)."""
    import numpy

    real = dtype if dtype.kind == "f" else numpy.dtype(f"f{dtype.itemsize // 2}")
    if real.itemsize <= 8:
        return False
    info = numpy.finfo(real)
    return bool(1 + info.nexp + info.nmant < 8 * real.itemsize)


def _check_dtype(dtype: Any) -> None:
    """Refuse dtypes whose bytes are not their values (with the fix)."""
    if dtype.kind in "fc" and _padded(dtype):
        raise TypeError(
            f"numpy arrays of {dtype} (long double) cannot be stored: on this machine its "
            f"{dtype.itemsize} bytes per value hold padding that is not part of the value, "
            "so equal arrays would differ; convert it first (value.astype(numpy.float64), "
            "or numpy.complex128)"
        )
    if dtype.kind in _STORABLE_KINDS and dtype.fields is None and not dtype.hasobject:
        return
    if dtype.fields is not None or dtype.kind == "V":
        what = "a structured (void) dtype"
        fix = (
            "store each field as an array column of its own, or as a frozen dataclass of "
            "arrays ({name: value[name] for name in value.dtype.names})"
        )
    elif dtype.kind == "O":
        what = "object dtype"
        fix = (
            "convert it to a numeric, bool, datetime64 or fixed-width str/bytes dtype "
            "(e.g. value.astype(float) or value.astype(str)), or store the items as a list"
        )
    else:
        what = f"the variable-width or non-numeric dtype {dtype}"
        fix = "convert it to a fixed-width dtype first (e.g. value.astype(str) for strings)"
    raise TypeError(f"numpy arrays of {what} cannot be stored: {fix}")
