"""The thin layer that runs what the other modules build.

Every command line (argv list) is built by a pure function elsewhere and
run here, so unit tests replace ``Runner`` with a fake that records argv
and answers from a script, and never start Docker.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NoReturn

from driver.console import Refused

Argv = list[str]
TIMED_OUT = 124  # the exit status of a command stopped at its timeout


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
        timeout: float | None = None,
    ) -> Done:
        """Run argv to the end. ``capture``: keep stdout (else it shows);
        ``quiet``: keep stderr too; ``stdin``/``stdout``: files instead;
        ``timeout``: seconds, after which it is stopped (exit 124, as
        coreutils' timeout)."""
        with contextlib.ExitStack() as files:
            in_file = _open(files, stdin, "rb") if stdin else subprocess.DEVNULL
            out_file = _open(files, stdout, "wb") if stdout else None
            try:
                process = subprocess.Popen(
                    argv,
                    cwd=self.cwd,
                    env={**self.env, **(env or {})},
                    stdin=in_file,
                    stdout=out_file or (subprocess.PIPE if capture else None),
                    stderr=subprocess.PIPE if quiet else None,
                )
            except FileNotFoundError:
                return Done(127, "", f"{argv[0]}: not found")
            try:
                out, err = _finish(process, timeout)
            except subprocess.TimeoutExpired:
                process.terminate()
                out, err = _finish(process)
                return Done(TIMED_OUT, _text(out), _text(err) + f"{argv[0]}: timed out")
        return Done(
            process.returncode,
            _text(out) if capture and not stdout else "",
            _text(err) if quiet else "",
        )

    def attach(self, argv: Argv) -> int:
        """Run argv on this terminal (stdin too): an interactive command."""
        try:
            process = subprocess.Popen(argv, cwd=self.cwd, env=self.env)
        except FileNotFoundError:
            raise Refused(f"{argv[0]} is not installed") from None
        _finish(process)
        return process.returncode

    def replace(self, argv: Argv, env: dict[str, str] | None = None) -> NoReturn:
        """Become argv (exec): its exit status is the driver's."""
        sys.stdout.flush()
        sys.stderr.flush()
        os.chdir(self.cwd)
        os.execvpe(argv[0], argv, {**self.env, **(env or {})})

    @staticmethod
    def interactive() -> bool:
        """Are stdin and stdout a terminal (a closed one is not)?"""
        return all(stream is not None and stream.isatty() for stream in (sys.stdin, sys.stdout))


def _open(files: contextlib.ExitStack, path: Path, mode: str) -> IO[Any]:
    try:
        return files.enter_context(open(path, mode))
    except OSError as error:
        raise Refused(f"cannot open {path}: {error.strerror}") from None


def _finish(
    process: subprocess.Popen[bytes], timeout: float | None = None
) -> tuple[bytes | None, bytes | None]:
    """Wait for the process (at most ``timeout`` seconds: TimeoutExpired).
    On Ctrl-C it got the same SIGINT: let it end its own way (Compose removes
    a one-off container) before the driver stops."""
    try:
        return process.communicate(timeout=timeout)
    except KeyboardInterrupt:
        while True:
            try:
                process.wait()
                break
            except KeyboardInterrupt:
                continue
        raise


def _text(data: bytes | None) -> str:
    return (data or b"").decode(errors="replace")
