"""pytest plugin: the tests under tests/driver/, tests/bench/ and
tests/kubernetes/ need neither Docker nor a database, and prove it.

Each runs with DOCKER_HOST pointing nowhere, and fails if it starts a
``docker`` process (through subprocess, os.exec*, os.posix_spawn* or
os.system) or is marked to use the database.
"""

import os
import shlex
import subprocess
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent.parent
ISOLATED = (TESTS_DIR / "driver", TESTS_DIR / "bench", TESTS_DIR / "kubernetes")
NOWHERE = "unix:///nonexistent.sock"
# pytest-django's fixtures that open the test database.
DATABASE_FIXTURES = {
    "db",
    "transactional_db",
    "django_db_reset_sequences",
    "django_db_serialized_rollback",
    "live_server",
}


def is_isolated(item: pytest.Item) -> bool:
    return any(item.path.is_relative_to(folder) for folder in ISOLATED)


def program(args) -> str:
    """The basename of the program an argv (or a shell command line) starts."""
    if isinstance(args, (str, bytes)):
        text = os.fsdecode(args)
        try:
            words = shlex.split(text)
        except ValueError:
            words = text.split()
    elif isinstance(args, os.PathLike):
        words = [args]
    else:
        words = list(args)
    return os.path.basename(os.fsdecode(words[0])) if words else ""


def pytest_runtest_setup(item: pytest.Item) -> None:
    if not is_isolated(item):
        return
    used = DATABASE_FIXTURES & set(getattr(item, "fixturenames", ()))
    if item.get_closest_marker("django_db") or used:
        pytest.fail(
            f"{item.nodeid} uses the database; tests under tests/driver/, tests/bench/ "
            "and tests/kubernetes/ must not (move it to tests/app/)",
            pytrace=False,
        )


@pytest.fixture(autouse=True)
def _no_docker(request):
    """Refuse every docker process the test starts, and fail it afterwards
    too, in case the code under test swallowed the refusal."""
    if not is_isolated(request.node):
        yield
        return
    monkeypatch = request.getfixturevalue("monkeypatch")
    monkeypatch.setenv("DOCKER_HOST", NOWHERE)
    started: list[str] = []

    def refuse(args) -> None:
        if program(args) == "docker":
            started.append(repr(args))
            pytest.fail(f"started a docker process: {args!r}", pytrace=False)

    real_popen_init = subprocess.Popen.__init__

    def popen_init(self, args, *rest, **kwargs):
        refuse(args)
        real_popen_init(self, args, *rest, **kwargs)

    monkeypatch.setattr(subprocess.Popen, "__init__", popen_init)

    def guarded(name: str, argv_at: int):
        real = getattr(os, name)

        def call(*args, **kwargs):
            refuse(args[argv_at])
            return real(*args, **kwargs)

        return call

    # os.execl*, execvp* and spawn* all end in execv or execve.
    for name, argv_at in (("execv", 1), ("execve", 1), ("posix_spawn", 1), ("posix_spawnp", 1)):
        if hasattr(os, name):
            monkeypatch.setattr(os, name, guarded(name, argv_at))
    monkeypatch.setattr(os, "system", guarded("system", 0))
    yield
    if started:
        pytest.fail(f"started docker processes: {', '.join(started)}", pytrace=False)
