"""Python ↔ Arrow types and values, and the Schema of a table's columns.

See ``orcapod.core.types._converter`` for the canonical Arrow representation
of every supported type.
"""

from __future__ import annotations

from orcapod.core.errors import (
    SchemaError,
    TypeInferenceError,
    TypeMismatchError,
    UnsupportedTypeError,
)
from orcapod.core.types._annotations import (
    SUPPORTED_TYPES,
    NaiveDatetime,
    normalize_type,
    type_name,
)
from orcapod.core.types._converter import (
    LOGICAL_TYPE_KEY,
    PATH_LOGICAL_TYPE,
    arrow_field,
    arrow_type,
    python_type,
)
from orcapod.core.types._inference import infer_schema, infer_type
from orcapod.core.types._logical import (
    LogicalType,
    logical_type_named,
    logical_type_of,
    logical_types,
    register_logical_type,
)
from orcapod.core.types._schema import Schema
from orcapod.core.types._tables import (
    rows_to_table,
    table_to_columns,
    table_to_rows,
    to_arrow_table,
)
from orcapod.core.types._to_arrow import to_arrow_array, value_checker
from orcapod.core.types._to_python import to_pylist

__all__ = [
    "LOGICAL_TYPE_KEY",
    "LogicalType",
    "PATH_LOGICAL_TYPE",
    "SUPPORTED_TYPES",
    "NaiveDatetime",
    "Schema",
    "SchemaError",
    "TypeInferenceError",
    "TypeMismatchError",
    "UnsupportedTypeError",
    "arrow_field",
    "arrow_type",
    "infer_schema",
    "infer_type",
    "logical_type_named",
    "logical_type_of",
    "logical_types",
    "normalize_type",
    "python_type",
    "register_logical_type",
    "rows_to_table",
    "table_to_columns",
    "table_to_rows",
    "to_arrow_array",
    "to_arrow_table",
    "to_pylist",
    "type_name",
    "value_checker",
]
