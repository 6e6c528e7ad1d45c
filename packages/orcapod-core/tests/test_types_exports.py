"""orcapod.core.types exports exactly its public API, and importing core does not load it."""

from __future__ import annotations

import subprocess
import sys

import orcapod.core.types as types_package

PUBLIC = {
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
}


def test_the_exported_names_are_the_public_api() -> None:
    assert set(types_package.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(types_package, name) is not None
        assert not name.startswith("_")


def test_type_errors_are_orcapod_errors() -> None:
    from orcapod.core.errors import OrcapodError

    for error in ("SchemaError", "TypeInferenceError", "TypeMismatchError", "UnsupportedTypeError"):
        assert issubclass(getattr(types_package, error), OrcapodError)


def test_importing_orcapod_core_does_not_import_the_types_package() -> None:
    code = "import sys, orcapod.core; print('orcapod.core.types' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
