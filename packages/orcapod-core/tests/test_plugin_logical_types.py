"""Logical types from plugins: the ``orcapod_logical_types`` hook, its failures, the listing.

Registering a logical type is process-wide, so every test here gives its
types names and classes of their own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import Any

import pyarrow as pa
import pytest

from orcapod.core import File
from orcapod.core.errors import PluginError, PluginLoadWarning
from orcapod.core.plugins import PluginRegistry
from orcapod.core.types import arrow_field, rows_to_table, table_to_rows
from orcapod.core.types._logical import logical_type_named, logical_type_of
from orcapod.protocols.hooks import hookimpl
from orcapod.protocols.logical_types import LogicalTypeSpec

GROUP = "orcapod-test-logical-types"  # a group no real distribution uses


def plugin_source(prefix: str, *, extra: str = "", types: str = "[CELSIUS]") -> str:
    """A plugin module providing ``{prefix}.celsius``: a float in a class of its own."""
    return f"""
        import dataclasses

        import pyarrow as pa

        from orcapod.protocols.hooks import hookimpl
        from orcapod.protocols.logical_types import LogicalTypeSpec


        class Celsius:
            def __init__(self, degrees):
                self.degrees = float(degrees)

            def __eq__(self, other):
                return type(other) is Celsius and other.degrees == self.degrees

            def __hash__(self):
                return hash(self.degrees)


        def to_storage(value):
            if not isinstance(value, Celsius):
                raise TypeError("expected Celsius")
            return {{"degrees": value.degrees, "note": "a temperature"}}


        CELSIUS = LogicalTypeSpec(
            name="{prefix}.celsius",
            python_class=Celsius,
            storage_type=pa.struct([("degrees", pa.float64()), ("note", pa.large_string())]),
            to_storage=to_storage,
            from_storage=lambda stored: Celsius(stored["degrees"]),
            identity_fields=("degrees",),
            description="a temperature in degrees Celsius",
        )
        {extra}


        def boom():
            raise RuntimeError("boom")


        @hookimpl
        def orcapod_logical_types():
            return {types}
    """


def test_builtins_provide_file_and_directory_from_orcapod_core() -> None:
    provisions = PluginRegistry(autoload=False).logical_type_provisions()
    assert [(p.name, p.plugin, p.distribution) for p in provisions] == [
        ("directory", "builtin", "orcapod-core"),
        ("file", "builtin", "orcapod-core"),
    ]
    assert provisions[1].logical_type.python_class is File


def test_a_plugin_type_is_registered_with_its_distribution_and_then_converts_values(
    fake_distributions: Any,
) -> None:
    fake_distributions.add(
        "orcapod-celsius", "celsius_a", plugin_source("celsius_a"), entry_name="c", group=GROUP
    )
    registry = PluginRegistry(group=GROUP)
    provisions = {p.name: p for p in registry.logical_type_provisions()}
    assert set(provisions) == {"file", "directory", "celsius_a.celsius"}
    provision = provisions["celsius_a.celsius"]
    assert (provision.plugin, provision.distribution, provision.version) == (
        "c",
        "orcapod-celsius",
        "1.2.3",
    )
    assert registry.failures == []
    celsius = sys.modules["celsius_a"].Celsius
    logical = logical_type_of(celsius)
    assert logical is provision.logical_type
    assert logical_type_named("celsius_a.celsius") is logical
    assert logical.identity_fields == ("degrees",)
    assert arrow_field("t", celsius).metadata == {
        b"orcapod.logical_type": b"celsius_a.celsius",
        b"orcapod.identity": b"degrees",
    }

    from orcapod.core.types import Schema

    table = rows_to_table([{"t": celsius(21.5)}], Schema({"t": celsius}))
    assert table_to_rows(table) == [{"t": celsius(21.5)}]


def test_the_hooks_are_called_once_per_registry(fake_distributions: Any) -> None:
    counting = plugin_source(
        "celsius_b",
        extra="CALLS = []",
        types="CALLS.append(1) or [CELSIUS]",
    )
    fake_distributions.add("orcapod-celsius", "celsius_b", counting, entry_name="c", group=GROUP)
    registry = PluginRegistry(group=GROUP)
    first = registry.logical_types()
    assert registry.logical_types() == first
    registry.logical_type_provisions()
    assert sys.modules["celsius_b"].CALLS == [1]


BAD_ANSWERS = {
    "raises": ("boom()", "hook orcapod_logical_types raised RuntimeError: boom"),
    "not-a-list": ("{'x': CELSIUS}", "expected a list of logical types, got dict"),
    "not-a-type": (
        "[object()]",
        "was not registered: TypeError: a object has no name, python_class",
    ),
    "bad-identity": (
        "[dataclasses.replace(CELSIUS, identity_fields=('kelvin',))]",
        "identity_fields ('kelvin',) must name fields of its struct",
    ),
    "identity-as-str": (
        "[dataclasses.replace(CELSIUS, identity_fields='degrees')]",
        "identity_fields must be a tuple of field names, not the str 'degrees'",
    ),
    "takes-file": (
        "[dataclasses.replace(CELSIUS, name='file')]",
        "logical type 'file' was not registered: ValueError: the name is already taken by "
        "plugin 'builtin' (orcapod-core), for class orcapod.core.files._values.File",
    ),
    "not-arrow": (
        "[dataclasses.replace(CELSIUS, storage_type='float64')]",
        "storage_type must be a pyarrow DataType",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_ANSWERS))
def test_a_bad_plugin_is_reported_naming_its_distribution_and_the_others_still_register(
    fake_distributions: Any, case: str
) -> None:
    answer, error = BAD_ANSWERS[case]
    module = f"bad_types_{case.replace('-', '_')}"
    bad = plugin_source(module, types=answer)
    fake_distributions.add("orcapod-bad-types", module, bad, entry_name="bad", group=GROUP)
    good = f"good_types_{case.replace('-', '_')}"
    fake_distributions.add(
        "orcapod-celsius", good, plugin_source(good), entry_name="good", group=GROUP
    )
    registry = PluginRegistry(group=GROUP)
    with pytest.warns(PluginLoadWarning, match=r"'bad' from orcapod-bad-types 1\.2\.3 failed"):
        names = {p.name for p in registry.logical_type_provisions()}
    assert names == {"file", "directory", f"{good}.celsius"}
    [failure] = registry.failures
    assert (failure.plugin, failure.distribution) == ("bad", "orcapod-bad-types")
    assert error in failure.error
    assert logical_type_named("file").python_class is File  # type: ignore[union-attr]


def test_one_bad_type_of_a_plugin_leaves_its_good_ones_registered(
    fake_distributions: Any,
) -> None:
    source = plugin_source(
        "half_good",
        types="[dataclasses.replace(CELSIUS, name='Not Namespaced!', storage_type=1), CELSIUS]",
    )
    fake_distributions.add("orcapod-half", "half_good", source, entry_name="half", group=GROUP)
    registry = PluginRegistry(group=GROUP)
    with pytest.warns(PluginLoadWarning, match="'Not Namespaced!' was not registered"):
        names = {p.name for p in registry.logical_type_provisions()}
    assert "half_good.celsius" in names


def test_two_plugins_claiming_one_name_keep_the_first_and_report_the_second(
    fake_distributions: Any,
) -> None:
    for module in ("claim_a", "claim_b"):
        source = plugin_source(module).replace(f'"{module}.celsius"', '"claims.celsius"')
        fake_distributions.add(f"orcapod-{module}", module, source, entry_name=module, group=GROUP)
    registry = PluginRegistry(group=GROUP)
    with pytest.warns(PluginLoadWarning, match=r"'claims.celsius'.*name is already taken by"):
        [provision] = [p for p in registry.logical_type_provisions() if p.name == "claims.celsius"]
    [failure] = registry.failures
    assert failure.plugin != provision.plugin
    assert f"({provision.distribution})" in failure.error


def test_a_plugin_registered_in_a_script_adds_its_types_at_once() -> None:
    class Kelvin(float):
        pass

    kelvin = LogicalTypeSpec(
        name="script.kelvin",
        python_class=Kelvin,
        storage_type=pa.float64(),
        to_storage=float,
        from_storage=Kelvin,
    )

    class Types:
        def __init__(self, types: list[Any]) -> None:
            self.types = types

        @hookimpl
        def orcapod_logical_types(self) -> list[Any]:
            return self.types

    registry = PluginRegistry(autoload=False)
    registry.logical_types()  # collected before the plugin comes
    registry.register(Types([kelvin]), "kelvin", distribution="my-script")
    [provision] = [p for p in registry.logical_type_provisions() if p.name == "script.kelvin"]
    assert provision.distribution == "my-script"
    assert logical_type_of(Kelvin) is provision.logical_type

    broken = LogicalTypeSpec("script.broken", Kelvin, pa.float64(), float, Kelvin)
    with (
        pytest.warns(PluginLoadWarning),
        pytest.raises(
            PluginError,
            match=r"'script.broken' was not registered: .*Kelvin is already the logical type "
            r"'script.kelvin' of plugin 'kelvin' \(my-script\)",
        ),
    ):
        registry.register(Types([broken]), "broken")
    assert logical_type_named("script.broken") is None


def test_plugins_command_lists_logical_types_with_their_distributions(
    fake_distributions: Any,
) -> None:
    fake_distributions.add(
        "orcapod-celsius",
        "celsius_cli",
        plugin_source("celsius_cli"),
        entry_name="c",
        group="orcapod",
    )

    report = json.loads(fake_distributions.run_cli("plugins", "--json").stdout)
    rows = {(t["name"], t["class"], t["distribution"]) for t in report["logical_types"]}
    assert {
        ("file", "orcapod.core.files._values.File", "orcapod-core"),
        ("directory", "orcapod.core.files._values.Directory", "orcapod-core"),
        ("celsius_cli.celsius", "celsius_cli.Celsius", "orcapod-celsius"),
    } <= rows
    [celsius] = [t for t in report["logical_types"] if t["name"] == "celsius_cli.celsius"]
    assert celsius["identity_fields"] == ["degrees"]
    assert celsius["description"] == "a temperature in degrees Celsius"
    assert report["failed"] == []

    table = fake_distributions.run_cli("plugins")
    assert table.returncode == 0, table.stderr
    lines = [line.split() for line in table.stdout.splitlines()]
    assert ["LOGICAL", "TYPE", "CLASS", "DISTRIBUTION", "VERSION"] in lines
    assert ["celsius_cli.celsius", "celsius_cli.Celsius", "orcapod-celsius", "1.2.3"] in lines


PIPELINE = """
    from orcapod.core import DictSource, Pipeline, function_pod
    from celsius_run import Celsius


    @function_pod(output_keys="warmer")
    def warm(t: Celsius) -> Celsius:
        return Celsius(t.degrees + 1)


    pipeline = Pipeline("temperatures", database="memory://")
    with pipeline:
        warm.pod(DictSource([{"id": "a", "t": Celsius(20)}], tag_columns=["id"]), label="warm")
    pipeline.run()
    [row] = pipeline.nodes["warm"].as_table().to_pylist()
    print(row)
"""


def test_an_installed_plugin_type_works_in_a_pipeline_without_registering_anything(
    fake_distributions: Any,
) -> None:
    fake_distributions.add(
        "orcapod-celsius",
        "celsius_run",
        plugin_source("celsius_run"),
        entry_name="c",
        group="orcapod",
    )
    script = fake_distributions.root.parent / "pipeline.py"
    script.write_text(textwrap.dedent(PIPELINE))
    env = {**os.environ, "PYTHONPATH": str(fake_distributions.root)}
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout.strip() == "{'id': 'a', 'warmer': {'degrees': 21.0, 'note': 'a temperature'}}"
    )


DATACLASS_PLUGIN = """
    from dataclasses import dataclass

    import pyarrow as pa

    from orcapod.protocols.hooks import hookimpl
    from orcapod.protocols.logical_types import LogicalTypeSpec


    @dataclass(frozen=True)
    class Reading:
        value: float


    @hookimpl
    def orcapod_logical_types():
        return [
            LogicalTypeSpec(
                name="readings.reading",
                python_class=Reading,
                storage_type=pa.float64(),
                to_storage=lambda reading: reading.value,
                from_storage=Reading,
            )
        ]
"""

FIRST_LOOKUP = """
    from orcapod.core.types import arrow_field
    from orcapod.core.types._logical import logical_type_of
    from readings_plugin import Reading

    print(logical_type_of(Reading).name, logical_type_of(Reading).name)
    print(dict(arrow_field("r", Reading).metadata))
"""


def test_a_plugin_type_wins_over_the_built_in_resolvers_from_the_first_lookup(
    fake_distributions: Any,
) -> None:
    """A frozen dataclass a plugin gives a type of its own is that type, whatever is asked first.

    Otherwise a process whose first lookup is that class would store it as a
    plain dataclass, and another (whose first lookup was anything else) as the
    plugin's type: two hashes for one value.
    """
    fake_distributions.add(
        "orcapod-readings", "readings_plugin", DATACLASS_PLUGIN, entry_name="r", group="orcapod"
    )
    env = {**os.environ, "PYTHONPATH": str(fake_distributions.root)}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(FIRST_LOOKUP)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "readings.reading readings.reading",
        "{b'orcapod.logical_type': b'readings.reading'}",
    ]
