"""What the driver says, and how it stops: one line on stderr per message.

``Refused`` ends a command with exit 1 and one line; ``UsageError`` with
exit 2, the line and the usage. Nothing else ends a command early.
"""

from __future__ import annotations

import sys

PREFIX = "run.sh: "
USAGE = "Usage: sh run.sh [-0|-1|-2|-3] [COMMAND [ARGS...]]   (sh run.sh help)"


class Refused(Exception):
    """A command that cannot go on: its one line, exit 1."""

    exit_code = 1


class UsageError(Exception):
    """The words of the call are off: its one line and the usage, exit 2."""

    exit_code = 2


def say(message: str) -> None:
    print(PREFIX + message, file=sys.stderr, flush=True)


def report(error: Exception) -> int:
    """Print a Refused or UsageError the way run.sh always has; its exit code."""
    say(str(error))
    if isinstance(error, UsageError):
        print(USAGE, file=sys.stderr)
        return UsageError.exit_code
    return Refused.exit_code


def ask(prompt: str) -> str:
    """Ask on stderr, read one line from stdin ("" when there is none)."""
    print(prompt, end="", file=sys.stderr, flush=True)
    line = sys.stdin.readline() if sys.stdin else ""
    return line.strip()


def confirm(what: str, expected: str, refusal: str) -> None:
    """Go on only when the user types ``expected``; otherwise refuse."""
    if ask(f"Type the {what} ({expected}) to confirm: ") != expected:
        raise Refused(refusal)


def size_text(size: float) -> str:
    """A size in bytes as people read it: 512B, 3.4K, 12.0M, 1.2G."""
    for unit in ("B", "K", "M", "G"):
        if size < 1024 or unit == "G":
            return f"{size:.0f}{unit}" if unit == "B" else f"{size:.1f}{unit}"
        size /= 1024
    return str(size)
