"""A backup verified: ``sh run.sh backup --verify [FILE]`` restores the dump
into a scratch database and compares, table by table, the rows the dump
holds with the rows the restored copy holds: their number, and a checksum
of their contents (SHA-256 of the rows in COPY's text form, sorted, so that
the order they come back in does not matter). The media archive beside it
is read through. The scratch database is dropped afterwards, whatever the
outcome; the mode's database is never touched.

The dump's side is read from the dump itself (``pg_restore --data-only``),
so a verification needs no record kept at backup time, and checks exactly
what a restore would bring back.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from driver import media
from driver.console import Refused, say, size_text
from driver.database import drop_sql, ours, table_count_sql

if TYPE_CHECKING:
    from driver.database import Database

COPY_HEADER = re.compile(r"^COPY (.+?)(?: \((.*)\))? FROM stdin;$")
END_OF_DATA = "\\."


@dataclass(frozen=True)
class Table:
    """One table's rows: how many, and the checksum of their contents."""

    rows: int
    checksum: str


def checksum(lines: list[str]) -> Table:
    digest = hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()
    return Table(len(lines), digest)


def dump_tables(script: str) -> dict[str, tuple[str, Table]]:
    """Each table of a ``pg_restore --data-only`` script: its column list
    (as the dump names it) and its rows."""
    tables: dict[str, tuple[str, Table]] = {}
    name, columns, rows = "", "", list[str]()
    inside = False
    for line in script.split("\n"):
        if inside:
            if line == END_OF_DATA:
                tables[name] = (columns, checksum(rows))
                inside = False
            else:
                rows.append(line)
            continue
        header = COPY_HEADER.match(line)
        if header:
            name, columns, rows, inside = header.group(1), header.group(2) or "", [], True
    return tables


def copy_sql(table: str, columns: str) -> str:
    """The restored copy's rows of ``table``, as the dump lists them."""
    listed = f" ({columns})" if columns else ""
    return f"COPY {table}{listed} TO STDOUT"


def split_output(output: str, marker: str, names: list[str]) -> dict[str, Table]:
    """The rows of each table in one psql output where ``marker`` (a line of
    its own) ends each table's COPY."""
    found: dict[str, Table] = {}
    lines = output.split("\n")
    for name in names:
        end = lines.index(marker)
        found[name] = checksum(lines[:end])
        lines = lines[end + 1 :]
    return found


def differences(expected: dict[str, Table], restored: dict[str, Table]) -> list[str]:
    """One line per table whose restored rows differ from the dump's."""
    found = []
    for name, table in expected.items():
        got = restored.get(name)
        if got is None:
            found.append(f"{name}: not in the restored copy")
        elif got.rows != table.rows:
            found.append(f"{name}: {got.rows} rows restored, {table.rows} in the dump")
        elif got.checksum != table.checksum:
            found.append(f"{name}: the rows' contents differ from the dump's")
    return found


def latest(directory: Path, prefix: str) -> Path | None:
    """The newest dump of this mode and database in BACKUP_DIR."""
    found = ours([p.name for p in directory.iterdir()], prefix) if directory.is_dir() else []
    return directory / found[0] if found else None


class Verify:
    def __init__(self, database: Database):
        self.db = database
        self.runner = database.runner
        self.scratch = f"{database.name}__verify"

    def __call__(self, archive: Path) -> None:
        started = time.monotonic()
        self.db.check_archive(archive)
        script = self.runner.run(
            self.db.target.exec("db", "pg_restore", "--data-only", "-f", "-"),
            stdin=archive, quiet=True,
        )  # fmt: skip
        if not script.ok:
            raise Refused(f"{archive}: pg_restore could not read its data (above)")
        expected = dump_tables(script.stdout)
        try:
            if not self.db.restore_into(self.scratch, archive):
                raise Refused(f"{archive} did not restore into a scratch database (above)")
            found = self.restored(expected)
            tables = self.db.sql(self.scratch, table_count_sql())
        finally:
            self.db.sql("postgres", drop_sql(self.scratch), quiet=True)
        problems = differences({k: v for k, (_, v) in expected.items()}, found)
        if problems:
            raise Refused(f"{archive} does not restore what it holds: " + "; ".join(problems))
        rows = sum(table.rows for _, table in expected.values())
        say(
            f"verified {archive}: {tables} tables restored into a scratch database, "
            f"{len(expected)} with data, {rows} rows; every count and checksum matches "
            f"({time.monotonic() - started:.0f} s)"
        )
        self.media(media.archive_path(archive))

    def restored(self, expected: dict[str, tuple[str, Table]]) -> dict[str, Table]:
        """Each table's rows in the scratch database, in one psql session."""
        if not expected:
            return {}
        marker = f"--verify-{secrets.token_hex(8)}--"
        statements = []
        for name, (columns, _) in expected.items():
            statements += [copy_sql(name, columns), f"SELECT '{marker}'"]
        argv = self.db.target.sql(self.db.user, self.scratch, *statements)
        done = self.runner.run(argv, quiet=True)
        if not done.ok:
            raise Refused(f"the restored copy could not be read: {done.stderr.strip()}")
        return split_output(done.stdout, marker, list(expected))

    @staticmethod
    def media(archive: Path) -> None:
        if not archive.is_file():
            return
        contents = media.read_archive(archive)
        say(
            f"verified {archive}: a whole tar archive, {contents.files} files, "
            f"{size_text(contents.size)}"
        )
