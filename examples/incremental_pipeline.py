"""An incremental pipeline: the second run computes only the rows that are new.

Run it with `uv run python examples/incremental_pipeline.py`.
"""

from __future__ import annotations

import pyarrow.compute as pc

from orcapod.core import DictSource, InMemoryArrowDatabase, Pipeline, function_pod
from orcapod.core.operators import Filter, Join

CALLS: list[int] = []


@function_pod(output_keys="response")
def response(dose: float) -> float:
    """A stand-in for an expensive computation."""
    CALLS.append(1)
    return round(10 * dose / (1 + dose), 3)


def build(database: InMemoryArrowDatabase, rows: int) -> Pipeline:
    doses = DictSource(
        [{"subject": f"s{i}", "dose": 0.5 * i} for i in range(rows)],
        tag_columns=["subject"],
        source_id="doses",
    )
    ages = DictSource(
        [{"subject": f"s{i}", "age": 20 + i} for i in range(rows)],
        tag_columns=["subject"],
        source_id="ages",
    )
    pipeline = Pipeline("dose_response", database)
    with pipeline:
        responses = response.pod(doses, label="response")
        Filter(pc.field("age") >= 21)(Join()(responses, ages))  # recorded; nothing runs yet
    return pipeline


database = InMemoryArrowDatabase()
first = build(database, rows=3).run()
print(f"first run: computed {first.nodes['response'].computed}")
second = build(database, rows=5).run()
print(
    f"second run: computed {second.nodes['response'].computed}, "
    f"cached {second.nodes['response'].cached}"
)
print(f"function calls in all: {len(CALLS)}")
table = build(database, rows=5).nodes["filter"].as_table()
print(f"adults: {sorted(table.column('subject').to_pylist())}")
