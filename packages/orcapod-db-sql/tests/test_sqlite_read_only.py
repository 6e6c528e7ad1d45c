"""A SQLite store in a place this user may not write (or read) is never "damaged".

Read-only use (``create=False``, as ``orcapod runs/status/logs/results/verify``
open stores) of a readable store in a read-only directory still works: SQLite
cannot create its ``-wal``/``-shm`` files there, so the store is opened
``mode=ro`` or ``immutable=1``. An unreadable store is a ``DatabaseError``
naming the file and the permission; opening to write (``create=True``, a
pipeline run) a store in a read-only place fails at once, naming the path and
saying read-only. None of them is a ``StoreCorruptedError``.

Permissions are real, so these scenarios run in a child process that file
permissions apply to: the test user itself when it is not root; as root,
``nobody`` when that user can run this interpreter, or else root without the
capabilities that bypass file permissions (``CAP_DAC_OVERRIDE``,
``CAP_DAC_READ_SEARCH``, ``CAP_FOWNER``, dropped from the child's bounding set
before it starts Python). They are skipped, saying why, when none of these
works. What needs no privilege (the read-only URIs, the error classes, a
store whose ``-wal`` file SQLite cannot create) is tested in this process.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pytest

from orcapod.db.sql import SQLDatabase
from orcapod.db.sql._engines import is_sqlite_access_error, sqlite_file_uri
from orcapod.protocols.errors import DatabaseError, StoreCorruptedError

if TYPE_CHECKING:
    from collections.abc import Iterator

_PATH = ("pipeline", "node")
_TIMEOUT_S = 120


def _records(ids: list[str]) -> pa.Table:
    return pa.table(
        {
            "id": pa.array(ids, pa.large_string()),
            "value": pa.array([len(i) for i in ids], pa.int64()),
        }
    )


def _make_store(file: Path, ids: list[str]) -> str:
    url = f"sqlite:///{file}"
    with SQLDatabase(url) as database:
        database.add_records(_PATH, _records(ids), "id")
    return url


# -- in this process: no privilege needed --------------------------------------------------


def test_read_only_uris_open_the_file_read_only_or_immutable_with_any_name(
    tmp_path: Path,
) -> None:
    made = _make_store(tmp_path / "store.db", ["a"])
    assert made  # (a URL cannot name the odd path below: "?" starts its query)
    directory = tmp_path / "odd ?#% name"
    directory.mkdir()
    file = directory / "store 1?.db"
    (tmp_path / "store.db").rename(file)
    expected = f"file:{tmp_path}/odd%20%3F%23%25%20name/store%201%3F.db?mode=ro"
    assert sqlite_file_uri(file) == expected
    assert sqlite_file_uri(file, immutable=True).endswith("?mode=ro&immutable=1")
    for immutable in (False, True):
        connection = sqlite3.connect(sqlite_file_uri(file, immutable=immutable), uri=True)
        try:
            tables = connection.execute("SELECT name FROM sqlite_master").fetchall()
            assert ("orcapod_paths",) in tables
            with pytest.raises(sqlite3.OperationalError, match="readonly"):
                connection.execute("DELETE FROM orcapod_paths")
        finally:
            connection.close()


def test_permission_and_read_only_errors_are_told_apart_from_damage(tmp_path: Path) -> None:
    missing = tmp_path / "no such directory" / "x.db"
    with pytest.raises(sqlite3.OperationalError) as cannot_open:
        sqlite3.connect(sqlite_file_uri(missing), uri=True).execute("SELECT 1 FROM sqlite_master")
    assert is_sqlite_access_error(cannot_open.value)

    file = tmp_path / "store.db"
    _make_store(file, ["a"])
    connection = sqlite3.connect(sqlite_file_uri(file), uri=True)
    with pytest.raises(sqlite3.OperationalError) as read_only:
        connection.execute("DELETE FROM orcapod_paths")
    connection.close()
    assert is_sqlite_access_error(read_only.value)

    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all, " * 100)
    with pytest.raises(sqlite3.DatabaseError) as not_a_database:
        sqlite3.connect(garbage).execute("SELECT 1 FROM sqlite_master")
    assert not is_sqlite_access_error(not_a_database.value)
    assert not is_sqlite_access_error(ValueError("unable to open database file"))
    assert not is_sqlite_access_error(None)


@pytest.fixture
def store_without_wal(tmp_path: Path) -> tuple[str, Path]:
    """A store SQLite cannot open its ``-wal`` file for: a directory stands in its place.

    What a read-only directory does to a non-root user, made without a privilege:
    SQLite fails to open the WAL (and so the database) except ``immutable=1``.
    """
    file = tmp_path / "store.db"
    url = _make_store(file, ["a", "bb"])
    (tmp_path / "store.db-wal").mkdir()
    return url, file


def test_a_store_whose_wal_cannot_be_made_is_read_immutably_and_refuses_writes(
    store_without_wal: tuple[str, Path],
) -> None:
    url, file = store_without_wal
    before = file.read_bytes()
    with SQLDatabase(url, create=False) as database:
        stored = database.get_all_records(_PATH, record_id_column="id")
        assert stored is not None
        assert sorted(stored.column("id").to_pylist()) == ["a", "bb"]
        assert database.list_paths() == [_PATH]
        assert database.uri == url
        with pytest.raises(DatabaseError) as refused:
            database.add_records(_PATH, _records(["ccc"]), "id")
        assert not isinstance(refused.value, StoreCorruptedError)
        message = str(refused.value)
        assert "opened read-only" in message
        assert "nothing was added" in message
        assert str(file) in message
    assert file.read_bytes() == before


def test_a_store_whose_wal_cannot_be_made_opened_to_write_fails_at_once(
    store_without_wal: tuple[str, Path],
) -> None:
    url, file = store_without_wal
    with pytest.raises(DatabaseError) as refused:
        SQLDatabase(url)
    assert not isinstance(refused.value, StoreCorruptedError)
    message = str(refused.value)
    assert f"cannot open the SQLite store {url!r} to write" in message
    assert f"{file}-wal" in message
    assert "damaged" not in message
    assert "create=False" in message


# -- in a child process that file permissions apply to --------------------------------------

_CHILD = r"""
import json, sys
import pyarrow as pa
from orcapod.db.sql._plugin import open_sql_database

job = json.loads(sys.argv[1])
out = {}
try:
    database = open_sql_database(job["url"], create=job["create"])
except Exception as error:
    out["error"] = [c.__module__ + "." + c.__qualname__ for c in type(error).__mro__]
    out["message"] = str(error)
else:
    stored = database.get_all_records(tuple(job["path"]), record_id_column="id")
    out["ids"] = None if stored is None else sorted(stored.column("id").to_pylist())
    if job.get("add"):
        try:
            records = pa.table({"id": pa.array(["new"], pa.large_string()),
                                "value": pa.array([3], pa.int64())})
            database.add_records(tuple(job["path"]), records, "id", flush=True)
            out["added"] = True
        except Exception as error:
            out["add_error"] = [c.__module__ + "." + c.__qualname__ for c in type(error).__mro__]
            out["add_message"] = str(error)
    database.close()
print(json.dumps(out))
"""

_FILE_CAPABILITIES = {"CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3}
_DROP_AND_EXEC = f"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
for capability in {sorted(_FILE_CAPABILITIES.values())!r}:
    if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
        raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")
os.execv(sys.argv[1], sys.argv[1:])
"""
"""Run by root: drops the capabilities that ignore file modes from the bounding set,
then starts the command, which therefore has none of them."""


@dataclass
class Unprivileged:
    """Runs commands as a user that file permissions apply to."""

    how: str
    options: dict[str, Any] = field(default_factory=dict)
    prefix: list[str] = field(default_factory=list)

    def run(self, args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.prefix, *args],
            capture_output=True,
            text=True,
            timeout=_TIMEOUT_S,
            cwd=cwd,
            check=False,
            **self.options,
        )

    def open_store(
        self, url: str, cwd: Path, *, create: bool = False, add: bool = False
    ) -> dict[str, Any]:
        """What opening ``url`` (and reading, and adding if ``add``) did in the child."""
        job = {"url": url, "create": create, "path": list(_PATH), "add": add}
        done = self.run([sys.executable, "-c", _CHILD, json.dumps(job)], cwd)
        assert done.returncode == 0, f"the child failed ({self.how}):\n{done.stderr}"
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result


def _as_nobody() -> dict[str, Any] | None:
    import pwd

    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        return None
    options: dict[str, Any] = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
    try:
        done = subprocess.run(
            [sys.executable, "-c", "import orcapod.db.sql, sqlalchemy, pyarrow"],
            capture_output=True,
            timeout=_TIMEOUT_S,
            cwd="/",
            check=False,
            **options,
        )
    except OSError:
        return None  # nobody may not run this interpreter (a home directory it cannot enter)
    return options if done.returncode == 0 else None


def _as_root_without_file_capabilities() -> list[str] | None:
    prefix = [sys.executable, "-c", _DROP_AND_EXEC]
    try:
        done = subprocess.run(
            [*prefix, sys.executable, "-c", "import orcapod.db.sql"],
            capture_output=True,
            timeout=_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return prefix if done.returncode == 0 else None


def _permissions_problem(runner: Unprivileged, directory: Path) -> str | None:
    """Why the child is no test of permissions here; None if it reads a 0o644 file but
    can neither write a 0o444 file nor create one in a 0o555 directory."""
    probe = directory / "probe"
    probe.mkdir()
    (probe / "readable").write_text("x")
    (probe / "file").write_text("x")
    (probe / "file").chmod(0o444)
    probe.chmod(0o555)
    code = (
        "import sys\n"
        "open(sys.argv[1] + '/readable').read()\n"
        "for path, mode in ((sys.argv[1] + '/file', 'a'), (sys.argv[1] + '/new', 'w')):\n"
        "    try:\n"
        "        open(path, mode).close()\n"
        "    except PermissionError:\n"
        "        continue\n"
        "    sys.exit(3)\n"
    )
    try:
        done = runner.run([sys.executable, "-c", code, str(probe)], directory)
    except OSError as error:
        return f"a child cannot be started {runner.how} in {directory}: {error}"
    finally:
        probe.chmod(0o755)
        shutil.rmtree(probe)
    if done.returncode == 3:
        return f"a child run {runner.how} can still write read-only files here"
    if done.returncode != 0:
        return f"a child run {runner.how} cannot read files in {directory}: {done.stderr}"
    return None


@pytest.fixture(scope="module")
def unprivileged() -> Unprivileged:
    if not sys.platform.startswith("linux"):
        pytest.skip("file-permission scenarios are written for Linux")
    if os.geteuid() != 0:
        runner = Unprivileged("as this (non-root) user, whom file modes apply to")
    elif (options := _as_nobody()) is not None:
        runner = Unprivileged("as nobody", options)
    elif (prefix := _as_root_without_file_capabilities()) is not None:
        dropped = ", ".join(_FILE_CAPABILITIES)
        runner = Unprivileged(f"as root without {dropped}", prefix=prefix)
    else:
        pytest.skip(
            "running as root, 'nobody' cannot run this interpreter and root's file "
            "capabilities cannot be dropped: no child process that file permissions "
            "apply to"
        )
    scratch = Path(tempfile.mkdtemp(prefix="orcapod-permission-probe-"))
    scratch.chmod(0o755)
    try:
        problem = _permissions_problem(runner, scratch)
    finally:
        shutil.rmtree(scratch)
    if problem is not None:
        pytest.skip(problem)
    return runner


@pytest.fixture
def place() -> Iterator[Path]:
    """A fresh directory the unprivileged child can reach (pytest's tmp_path is 0o700)."""
    directory = Path(tempfile.mkdtemp(prefix="orcapod-read-only-"))
    directory.chmod(0o755)
    try:
        yield directory
    finally:
        for root, dirs, files in os.walk(directory):
            os.chmod(root, 0o755)
            for name in dirs:
                os.chmod(os.path.join(root, name), 0o755)
            for name in files:
                os.chmod(os.path.join(root, name), 0o644)
        shutil.rmtree(directory)


def _store_in(place: Path, ids: list[str]) -> tuple[str, Path]:
    directory = place / "stores"
    directory.mkdir()
    file = directory / "store.db"
    return _make_store(file, ids), file


def _listing(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


def _assert_not_damage(error: list[str], message: str, *names: str) -> None:
    assert "orcapod.protocols.errors.DatabaseError" in error, error
    assert "orcapod.protocols.errors.StoreCorruptedError" not in error, message
    assert not any(name.startswith(("sqlite3.", "sqlalchemy.")) for name in error), error
    assert "damaged" not in message
    for name in names:
        assert name in message, f"the error should name {name!r}: {message}"


@pytest.mark.parametrize("file_mode", [0o644, 0o444], ids=["writable-file", "read-only-file"])
def test_a_store_in_a_read_only_directory_is_read(
    unprivileged: Unprivileged, place: Path, file_mode: int
) -> None:
    url, file = _store_in(place, ["a", "bb"])
    file.chmod(file_mode)
    file.parent.chmod(0o555)
    before = _listing(file.parent)
    content = file.read_bytes()

    done = unprivileged.open_store(url, place, add=True)

    assert "error" not in done, done.get("message")
    assert done["ids"] == ["a", "bb"]
    assert "added" not in done
    _assert_not_damage(done["add_error"], done["add_message"], str(file), "read-only")
    assert _listing(file.parent) == before
    assert file.read_bytes() == content


def test_a_read_only_store_in_a_writable_directory_is_read_and_refuses_writes(
    unprivileged: Unprivileged, place: Path
) -> None:
    url, file = _store_in(place, ["a", "bb"])
    file.chmod(0o444)
    file.parent.chmod(0o777)
    content = file.read_bytes()

    done = unprivileged.open_store(url, place, add=True)

    assert "error" not in done, done.get("message")
    assert done["ids"] == ["a", "bb"]
    assert "added" not in done
    _assert_not_damage(done["add_error"], done["add_message"], str(file), "read-only")
    assert file.read_bytes() == content


@pytest.mark.parametrize("create", [False, True], ids=["to-read", "to-write"])
def test_an_unreadable_store_cannot_be_opened_and_says_why(
    unprivileged: Unprivileged, place: Path, create: bool
) -> None:
    url, file = _store_in(place, ["a"])
    file.chmod(0o000)

    done = unprivileged.open_store(url, place, create=create)

    assert "ids" not in done
    _assert_not_damage(
        done["error"],
        done["message"],
        url,
        str(file),
        "cannot be read (permission denied)",
        "chmod a+r",
    )


def test_a_store_in_a_directory_that_cannot_be_entered_says_so(
    unprivileged: Unprivileged, place: Path
) -> None:
    url, file = _store_in(place, ["a"])
    file.parent.chmod(0o600)

    done = unprivileged.open_store(url, place)

    assert "ids" not in done
    _assert_not_damage(done["error"], done["message"], str(file), "permission denied")


def test_a_store_in_a_read_only_directory_opened_to_write_fails_at_once(
    unprivileged: Unprivileged, place: Path
) -> None:
    url, file = _store_in(place, ["a"])
    file.parent.chmod(0o555)
    before = _listing(file.parent)
    content = file.read_bytes()

    done = unprivileged.open_store(url, place, create=True)

    assert "ids" not in done
    _assert_not_damage(
        done["error"],
        done["message"],
        f"cannot open the SQLite store {url!r} to write",
        f"its directory {str(file.parent)!r} is read-only",
        "create=False",
    )
    assert _listing(file.parent) == before
    assert file.read_bytes() == content


def test_a_read_only_store_file_opened_to_write_fails_at_once(
    unprivileged: Unprivileged, place: Path
) -> None:
    url, file = _store_in(place, ["a"])
    file.chmod(0o444)
    file.parent.chmod(0o777)
    content = file.read_bytes()

    done = unprivileged.open_store(url, place, create=True)

    assert "ids" not in done
    _assert_not_damage(
        done["error"], done["message"], f"{str(file)!r} is read-only", "to write", "chmod u+w"
    )
    assert file.read_bytes() == content


def test_a_new_store_in_a_read_only_directory_fails_and_creates_nothing(
    unprivileged: Unprivileged, place: Path
) -> None:
    directory = place / "shared"
    directory.mkdir()
    directory.chmod(0o555)
    file = directory / "new.db"

    done = unprivileged.open_store(f"sqlite:///{file}", place, create=True)

    _assert_not_damage(
        done["error"], done["message"], str(file), "is read-only", "Nothing was created"
    )
    assert _listing(directory) == []

    nested = unprivileged.open_store(f"sqlite:///{directory}/sub/new.db", place, create=True)
    _assert_not_damage(nested["error"], nested["message"], f"{directory}/sub", "cannot be created")
    assert _listing(directory) == []


def _leave_changes_in_the_wal(url: str, ids: list[str], cwd: Path) -> None:
    """Add ``ids`` and stop dead: the commit stays in the -wal file, not yet in the store."""
    code = (
        "import os, sys, pyarrow as pa\n"
        "from orcapod.db.sql import SQLDatabase\n"
        "database = SQLDatabase(sys.argv[1])\n"
        "ids = sys.argv[2:]\n"
        "records = pa.table({'id': pa.array(ids, pa.large_string()),\n"
        "                    'value': pa.array([len(i) for i in ids], pa.int64())})\n"
        f"database.add_records({_PATH!r}, records, 'id', flush=True)\n"
        "os._exit(0)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, url, *ids],
        capture_output=True,
        text=True,
        timeout=_TIMEOUT_S,
        cwd=cwd,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_a_read_only_directory_with_a_wal_and_its_shm_reads_the_wal_too(
    unprivileged: Unprivileged, place: Path
) -> None:
    url, file = _store_in(place, ["a"])
    _leave_changes_in_the_wal(url, ["in-wal"], place)
    wal = Path(f"{file}-wal")
    assert wal.stat().st_size > 0
    for path in file.parent.iterdir():
        path.chmod(0o444)
    file.parent.chmod(0o555)

    done = unprivileged.open_store(url, place)

    assert "error" not in done, done.get("message")
    assert done["ids"] == ["a", "in-wal"]


def test_a_read_only_directory_with_a_wal_but_no_shm_is_refused_not_read_stale(
    unprivileged: Unprivileged, place: Path
) -> None:
    url, file = _store_in(place, ["a"])
    _leave_changes_in_the_wal(url, ["in-wal"], place)
    Path(f"{file}-shm").unlink()
    for path in file.parent.iterdir():
        path.chmod(0o444)
    file.parent.chmod(0o555)

    done = unprivileged.open_store(url, place)

    assert "ids" not in done, "read without the changes in the -wal file"
    _assert_not_damage(
        done["error"], done["message"], url, f"{file}-wal", "read-only", "store.db-shm"
    )


# -- the read-only commands, as a user runs them --------------------------------------------


@pytest.fixture
def observed_store(place: Path) -> tuple[str, Path]:
    """A store written by a pipeline run with a StatusObserver (needs core and observers)."""
    core = pytest.importorskip("orcapod.core", reason="the orcapod command is orcapod-core's")
    observers = pytest.importorskip(
        "orcapod.observers", reason="orcapod runs is orcapod-observers' command"
    )
    file = place / "stores" / "observed.db"
    file.parent.mkdir()
    url = f"sqlite:///{file}"

    @core.function_pod(output_keys="y")
    def double(x: int) -> int:
        return 2 * x

    database = core.open_database(url)
    numbers = core.DictSource([{"id": "a", "x": 1}, {"id": "b", "x": 2}], tag_columns=["id"])
    pipeline = core.Pipeline("demo", database)
    with pipeline:
        double.pod(numbers, label="double")
    result = pipeline.run(observer=observers.StatusObserver(database))
    assert result.n_computed == 2
    database.close()
    return url, file


def _orcapod(unprivileged: Unprivileged, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return unprivileged.run([sys.executable, "-m", "orcapod.core", *args], cwd)


def test_orcapod_runs_lists_the_runs_of_a_store_in_a_read_only_directory(
    unprivileged: Unprivileged, place: Path, observed_store: tuple[str, Path]
) -> None:
    url, file = observed_store
    file.parent.chmod(0o555)

    runs = _orcapod(unprivileged, place, "runs", url)
    status = _orcapod(unprivileged, place, "status", url)

    assert runs.returncode == 0, runs.stderr
    assert "SUCCESS" in runs.stdout
    assert status.returncode == 0, status.stderr
    assert "2 packet(s): 2 SUCCESS" in status.stdout


def test_orcapod_runs_on_an_unreadable_store_says_it_cannot_be_read(
    unprivileged: Unprivileged, place: Path, observed_store: tuple[str, Path]
) -> None:
    url, file = observed_store
    file.chmod(0o000)

    done = _orcapod(unprivileged, place, "runs", url)

    assert done.returncode != 0
    assert "orcapod runs: error:" in done.stderr
    assert f"{str(file)!r} cannot be read (permission denied)" in done.stderr
    assert "damaged" not in done.stderr
    assert "Traceback" not in done.stderr
