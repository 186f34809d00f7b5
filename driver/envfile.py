"""The .env file: read its setting names, write values Compose reads back exactly.

Compose's .env syntax: an unquoted value ends at `` #`` and loses its outer
spaces; inside double quotes ``\\``, ``"`` and ``$`` need a backslash, and
nothing else does. ``quote`` writes every value that way, so any printable
password survives the trip through .env, Compose and the containers.
"""

from __future__ import annotations

import re
import secrets
import string

NAME = re.compile(r"^([A-Z][A-Z0-9_]*)=")
SAFE = frozenset(string.ascii_letters + string.digits + "_-.,/:@+")


def quote(value: str) -> str:
    """``value`` as Compose's .env parser reads it back, quoted only if needed."""
    if any(character in value for character in "\n\r\0"):
        raise ValueError("a setting cannot hold a line break or NUL")
    if value and set(value) <= SAFE:
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'


def setting_names(text: str) -> list[str]:
    """Names of the settings ``text`` sets (live lines, not comments)."""
    return [match.group(1) for line in text.splitlines() if (match := NAME.match(line))]


def with_values(text: str, values: dict[str, str]) -> str:
    """``text`` (an env file) with the live lines of ``values`` replaced,
    and the ones it does not set yet appended."""
    pending = dict(values)
    lines = []
    for line in text.splitlines():
        match = NAME.match(line)
        if match and match.group(1) in pending:
            name = match.group(1)
            line = f"{name}={quote(pending.pop(name))}"
        lines.append(line)
    lines += [f"{name}={quote(value)}" for name, value in pending.items()]
    return "\n".join(lines) + "\n"


def new_secret_key() -> str:
    """A SECRET_KEY that the production policy accepts."""
    return secrets.token_urlsafe(50)


def values(text: str) -> dict[str, str]:
    """Live NAME=value lines, outer quotes taken off: enough to tell a set
    setting from an empty one (Compose resolves the real values)."""
    found = {}
    for line in text.splitlines():
        if NAME.match(line):
            name, value = line.split("=", 1)
            found[name] = value.strip().strip("'\"")
    return found
