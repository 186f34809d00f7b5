"""Developer tools on the host: the .venv, tests, linters, the benchmark,
and runserver on the host (mode -3)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NoReturn

from driver.console import Refused, say
from driver.project import Project

# The tests and the tools run on the host with the app's own Python needs:
# django-ox (the tasks backend, app/requirements.txt) needs 3.12. The image
# runs 3.13. When run.sh's own python3 is older, the newest of these that is
# on PATH builds the .venv.
HOST_PYTHON = (3, 12)
HOST_PYTHON_NAMES = ("python3.14", "python3.13", "python3.12")
REQUIREMENTS = ("app/requirements.txt", "tests/requirements.txt")
PYTHON_DIRS = ("app", "driver", "tests", "tools")
STAMP = ".venv/requirements.stamp"
SHEBANG_SHELLS = {
    "#!/bin/sh": "sh",
    "#!/usr/bin/env sh": "sh",
    "#!/bin/dash": "sh",
    "#!/bin/bash": "bash",
    "#!/usr/bin/env bash": "bash",
}
DOCKERFILE_NAMES = ("Dockerfile", "Containerfile")
SKIP_DIRS = {".git", ".venv", "node_modules", "__pycache__", ".ruff_cache", ".mypy_cache"}


def version_of(python: str) -> tuple[int, int] | None:
    """An interpreter's (major, minor), or None when it does not run."""
    try:
        done = subprocess.run(
            [python, "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return None
    fields = done.stdout.split()
    if done.returncode or len(fields) != 2 or not all(f.isdigit() for f in fields):
        return None
    return int(fields[0]), int(fields[1])


def host_python() -> str:
    """The interpreter that builds the .venv: run.sh's own python3 when it is
    new enough, else the newest python3.1x on PATH that is."""
    if sys.version_info >= HOST_PYTHON:
        return sys.executable
    for name in HOST_PYTHON_NAMES:
        found = shutil.which(name)
        version = version_of(found) if found else None
        if found and version and version >= HOST_PYTHON:
            return found
    raise Refused(
        "the tests need Python 3.12 or newer on the host (django-ox, the tasks backend, "
        f"needs it); python3 is {sys.version.split()[0]} and no python3.12 or newer is on "
        "PATH: install one (e.g. apt-get install python3.13, brew install python@3.13, "
        "or pyenv) and run this again"
    )


def venv(root: Path) -> Path:
    """The host's .venv, created or updated when the requirements change; its python."""
    python = root / ".venv" / "bin" / "python"
    if python.exists() and (version_of(str(python)) or (0, 0)) < HOST_PYTHON:
        say(f"rebuilding .venv with Python {'.'.join(map(str, HOST_PYTHON))} or newer")
        shutil.rmtree(root / ".venv")
    digest = hashlib.sha256(
        b"".join((root / name).read_bytes() for name in REQUIREMENTS)
    ).hexdigest()
    if not python.exists():
        say("creating .venv")
        if subprocess.run(
            [host_python(), "-m", "venv", str(root / ".venv")], check=False
        ).returncode:
            raise Refused(
                "python3 -m venv failed: install your Python's venv package (e.g. python3-venv)"
            )
    stamp = root / STAMP
    if not stamp.is_file() or stamp.read_text().strip() != digest:
        say("installing the test requirements into .venv")
        argv = [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
            str(root / REQUIREMENTS[1]),
        ]
        if subprocess.run(argv, check=False).returncode:
            raise Refused("pip could not install tests/requirements.txt into .venv (above)")
        stamp.write_text(digest + "\n")
    return python


def host_django_env(project: Project) -> dict[str, str]:
    """Django on the host against the dockerized dev database, with the
    values Compose resolved (any password, defaults from the Compose files)."""
    settings = project.settings
    return {
        "DJANGO_ENV_FILE": str(project.env_file),
        # DEBUG only relaxes the import-time production checks; pytest-django
        # runs the tests themselves with DEBUG off.
        "DEBUG": "true",
        # Never production's mail server from a laptop: mail goes to the log.
        "EMAIL_URL": "consolemail://",
        "POSTGRES_HOST": "127.0.0.1",
        "POSTGRES_PORT": settings.first_port("db"),
        "POSTGRES_DB": settings.db_name,
        "POSTGRES_USER": settings.db_user,
        "POSTGRES_PASSWORD": settings.db_password,
    }


def test(project: Project, args: list[str]) -> NoReturn:
    project.prepare()
    python = venv(project.root)
    project.start_db()
    argv = [str(python), "-m", "pytest", "-c", "tests/pytest.ini", *args]
    project.runner.replace(argv, env=host_django_env(project))


def run_on_host(project: Project) -> NoReturn:
    python = venv(project.root)
    port = project.settings.host_web_port
    say(
        f"runserver on the host: http://127.0.0.1:{port}/ (Ctrl-C stops it; the containers keep running)"
    )
    # CONN_MAX_AGE=0 as in compose.dev.yml: runserver's thread per connection
    # would otherwise keep a database connection each.
    env = {**host_django_env(project), "CONN_MAX_AGE": "0"}
    project.runner.replace(
        [str(python), "app/manage.py", "runserver", f"127.0.0.1:{port}"], env=env
    )


def shell_of(path: Path) -> str | None:
    """sh, bash or None: how a file is linted as a shell script."""
    try:
        with path.open("rb") as file:
            first = file.readline(200).decode(errors="replace").strip()
    except OSError:
        return None
    for shebang, shell in SHEBANG_SHELLS.items():
        if first.startswith(shebang):
            return shell
    return "sh" if path.suffix == ".sh" else None


def lint_targets(root: Path) -> tuple[list[tuple[Path, str]], list[Path]]:
    """Every shell script (with its shell) and every Dockerfile in the tree."""
    scripts, dockerfiles = [], []
    for path in sorted(root.rglob("*")):
        if SKIP_DIRS & set(path.relative_to(root).parts) or not path.is_file():
            continue
        if (
            path.name in DOCKERFILE_NAMES
            or path.name.startswith("Dockerfile.")
            or path.name.endswith(".Dockerfile")
        ):
            dockerfiles.append(path)
        elif (shell := shell_of(path)) is not None:
            scripts.append((path, shell))
    return scripts, dockerfiles


def lint_commands(root: Path, bin_dir: Path, compose_dir: Path) -> list[tuple[str, list[str]]]:
    """(name, argv) of every linter run, in order (pure but for the file walk)."""

    def tool(name: str) -> str:
        return str(bin_dir / name)

    commands = [
        ("ruff", [tool("ruff"), "check", *PYTHON_DIRS]),
        ("ruff-format", [tool("ruff"), "format", "--check", *PYTHON_DIRS]),
        ("mypy", [tool("mypy"), "--config-file", "driver/mypy.ini", "driver"]),
    ]
    scripts, dockerfiles = lint_targets(root)
    for path, shell in scripts:
        commands.append(
            (
                f"shellcheck:{path.relative_to(root)}",
                [tool("shellcheck"), f"--shell={shell}", str(path)],
            )
        )
    for path in dockerfiles:
        commands.append((f"hadolint:{path.relative_to(root)}", [tool("hadolint"), str(path)]))
    commands.append((
        "compose-lint",
        [tool("compose-lint"), "check", "--quiet", "--skip-suppressed", "--fail-on", "low",
         "--config", ".compose-lint.yml", "--strict-config",
         str(compose_dir / "prod" / "compose.yml"), str(compose_dir / "dev" / "compose.yml")],
    ))  # fmt: skip
    return commands


def lint(root: Path) -> int:
    python = venv(root)
    failed = []
    with tempfile.TemporaryDirectory() as tmp:
        # The Compose files as shipped (their defaults, not this machine's
        # .env or override): production alone, and development merged.
        compose_dir = Path(tmp)
        for mode, names in (("prod", ["compose.yml"]), ("dev", ["compose.yml", "compose.dev.yml"])):
            (compose_dir / mode).mkdir()
            for name in names:
                shutil.copy(root / name, compose_dir / mode / name)
        (compose_dir / "dev" / ".env").write_text("COMPOSE_FILE=compose.yml:compose.dev.yml\n")
        for name, argv in lint_commands(root, python.parent, compose_dir):
            if subprocess.run(argv, cwd=root, check=False).returncode != 0:
                failed.append(name)
    if failed:
        raise Refused(f"lint found problems (above) in: {' '.join(failed)}")
    say("lint: no findings")
    return 0


def bench(project: Project, args: list[str]) -> NoReturn:
    if shutil.which("wrk") is None:
        raise Refused(
            "wrk is not installed: install it (Debian/Ubuntu: sudo apt-get install wrk; "
            "macOS: brew install wrk), then run sh run.sh bench again"
        )
    from driver import checks

    checks.require_docker(project.runner)
    python = venv(project.root)
    project.runner.replace([str(python), "-m", "tools.bench", *args])
