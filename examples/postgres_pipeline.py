"""The growth pipeline of ``local_pipeline.py``, stored in PostgreSQL: the same code, another URI.

    uv run python examples/postgres_pipeline.py [postgresql://USER@HOST:PORT/DATABASE]

Without an argument the server is the one the standard ``PG*`` variables name
(``PGHOST``, ``PGPORT``, ``PGUSER``, ``PGDATABASE``; by default
``postgres@127.0.0.1:5432/postgres``). Run it twice: the second run computes
nothing. Needs ``pip install 'orcapod-db-sql[postgres]'``.
"""

from __future__ import annotations

import os
import sys

from local_pipeline import main


def url_from_environment() -> str:
    """``postgresql://`` URL of the server the ``PG*`` variables name."""
    user = os.environ.get("PGUSER", "postgres")
    password = os.environ.get("PGPASSWORD")
    host = os.environ.get("PGHOST", "127.0.0.1")
    port = os.environ.get("PGPORT", "5432")
    database = os.environ.get("PGDATABASE", "postgres")
    credentials = f"{user}:{password}" if password else user
    return f"postgresql://{credentials}@{host}:{port}/{database}"


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else url_from_environment())
