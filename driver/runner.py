"""The thin layer that runs what the other modules build.

Every command line (argv list) is built by a pure function elsewhere and
run here, so unit tests replace ``Runner`` with a fake that records argv
and answers from a script, and never start Docker.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

Argv = list[str]


@dataclass(frozen=True)
class Done:
    returncode: int
    stdout: str = ""
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class Runner:
    """Runs argv in ``cwd`` with the driver's environment."""

    def __init__(self, cwd: Path, env: dict[str, str] | None = None):
        self.cwd = cwd
        self.env = dict(os.environ if env is None else env)

    def run(
        self,
        argv: Argv,
        *,
        capture: bool = True,
        quiet: bool = False,
        stdin: Path | None = None,
        stdout: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> Done:
        """Run argv to the end. ``capture``: keep stdout (else it shows);
        ``quiet``: keep stderr too; ``stdin``/``stdout``: files instead."""
        in_file = open(stdin, "rb") if stdin else subprocess.DEVNULL  # noqa: SIM115
        out_file = open(stdout, "wb") if stdout else None  # noqa: SIM115
        try:
            done = subprocess.run(
                argv,
                cwd=self.cwd,
                env={**self.env, **(env or {})},
                stdin=in_file,
                stdout=out_file or (subprocess.PIPE if capture else None),
                stderr=subprocess.PIPE if quiet else None,
                check=False,
            )
        except FileNotFoundError:
            return Done(127, "", f"{argv[0]}: not found")
        finally:
            for file in (in_file, out_file):
                if file not in (None, subprocess.DEVNULL):
                    file.close()  # type: ignore[union-attr]
        return Done(
            done.returncode,
            _text(done.stdout) if capture and not stdout else "",
            _text(done.stderr) if quiet else "",
        )

    def attach(self, argv: Argv) -> int:
        """Run argv on this terminal (stdin too): an interactive command."""
        return subprocess.run(argv, cwd=self.cwd, env=self.env, check=False).returncode

    def replace(self, argv: Argv, env: dict[str, str] | None = None) -> NoReturn:
        """Become argv (exec): its exit status is the driver's."""
        sys.stdout.flush()
        sys.stderr.flush()
        os.chdir(self.cwd)
        os.execvpe(argv[0], argv, {**self.env, **(env or {})})

    @staticmethod
    def interactive() -> bool:
        return sys.stdin.isatty() and sys.stdout.isatty()


def _text(data: bytes | None) -> str:
    return (data or b"").decode(errors="replace")
