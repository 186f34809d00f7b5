"""run.sh, the launcher: a python3 that is missing or too old gets one line
naming what to install, and exit 1; otherwise the driver answers."""

import os
import shutil
import subprocess
import sys

import pytest

from tools.throwaway import REPO_DIR

TOOLS = ("sh", "grep", "dirname")  # what run.sh needs before python3


@pytest.fixture
def bin_dir(tmp_path):
    """A PATH with the launcher's tools and no python3."""
    for tool in TOOLS:
        (tmp_path / tool).symlink_to(shutil.which(tool))
    return tmp_path


def launch(bin_dir, *args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(bin_dir / "sh"), str(REPO_DIR / "run.sh"), *args],
        cwd=cwd,
        env={"PATH": str(bin_dir)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_no_python3_is_one_line_naming_what_to_install(bin_dir):
    result = launch(bin_dir, "help")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        (
            "run.sh: python3 is not installed: install Python 3.9 or newer "
            "(Debian/Ubuntu: sudo apt-get install python3)"
        )
    ]


def test_a_python3_older_than_3_9_is_one_line_naming_its_version(bin_dir):
    fake = bin_dir / "python3"
    fake.write_text('#!/bin/sh\n[ "$1" = -V ] && echo "Python 3.7.16"\nexit 1\n')
    fake.chmod(0o755)
    result = launch(bin_dir, "help")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "run.sh: Python 3.9 or newer is needed; python3 is Python 3.7.16: install a newer python3"
    ]


def test_a_good_python3_runs_the_driver(bin_dir):
    (bin_dir / "python3").symlink_to(os.path.realpath(sys.executable))
    assert launch(bin_dir, "help").stdout.startswith("Usage: sh run.sh")
    bogus = launch(bin_dir, "--bogus")
    assert bogus.returncode == 2
    assert bogus.stderr.startswith("run.sh: unknown mode or command: --bogus\n")


def test_modules_in_the_callers_folder_are_never_imported(bin_dir, tmp_path_factory):
    (bin_dir / "python3").symlink_to(os.path.realpath(sys.executable))
    caller = tmp_path_factory.mktemp("caller")
    (caller / "driver").mkdir()
    (caller / "driver" / "__init__.py").write_text("")
    (caller / "driver" / "__main__.py").write_text('raise SystemExit("planted driver")')
    (caller / "inspect.py").write_text('raise SystemExit("planted inspect")')
    result = launch(bin_dir, "help", cwd=caller)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: sh run.sh")
