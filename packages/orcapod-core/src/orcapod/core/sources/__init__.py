"""Sources: streams that originate data (rows, lists, Arrow tables, data frames, CSV and
Parquet files, the files a path pattern matches, a plugin's ``SourceTable``)."""

from __future__ import annotations

from orcapod.core.sources._csv import CSVReads, CSVSource
from orcapod.core.sources._dataframe import DataFrameSource
from orcapod.core.sources._glob import GlobSource
from orcapod.core.sources._parquet import ParquetReads, ParquetSource
from orcapod.core.sources._python import DictSource, ListSource
from orcapod.core.sources._source_table import (
    BatchedSourceTableSource,
    SourceTableReads,
    SourceTableSource,
    as_stream,
)
from orcapod.core.sources._table_source import ArrowTableSource, TableSource

__all__ = [
    "ArrowTableSource",
    "BatchedSourceTableSource",
    "CSVReads",
    "CSVSource",
    "DataFrameSource",
    "DictSource",
    "GlobSource",
    "ListSource",
    "ParquetReads",
    "ParquetSource",
    "SourceTableReads",
    "SourceTableSource",
    "TableSource",
    "as_stream",
]
