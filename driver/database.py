"""The stack's database: SQL and command lines (pure), and backup, restore
and the database swap that run them.

A backup is one ``pg_dump --format=custom`` snapshot streamed to the host
(the uploads' archive beside it is media.py's; retention removes the two
together, and never the newest backup that has one); a restore goes into a
new database, is checked against the archive, and only then renamed into
place, so a failed restore changes nothing.
"""

from __future__ import annotations

import fcntl
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from driver import media
from driver.console import Refused, say, size_text
from driver.runner import Argv

if TYPE_CHECKING:  # the backup service imports this module without the rest (scheduled.py)
    from driver.project import Project


class DbTarget(Protocol):
    def exec(
        self, service: str, *args: str, tty: bool = False, env: tuple[str, ...] = ()
    ) -> Argv: ...

    def sql(self, user: str, database: str, *statements: str) -> Argv: ...


_held = [0]  # this process's depth inside locked()
USER_SCHEMAS = "schemaname NOT IN ('pg_catalog', 'information_schema')"
RENAME_ATTEMPTS, RENAME_PAUSE = 50, 0.2  # 10 s for the old sessions to go
BACKUP_NAME = re.compile(r"\d{8}T\d{6}Z.*\.dump$")


def ident(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A quoted SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def exists_sql(database: str) -> str:
    return f"SELECT 1 FROM pg_database WHERE datname = {literal(database)}"


def summary_sql() -> str:
    """'N tables, M rows' of the current database."""
    rows = (
        "(xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I.%I', "
        "schemaname, tablename), false, true, '')))[1]::text::bigint"
    )
    return (
        f"SELECT count(*) || ' tables, ' || coalesce(sum({rows}), 0) || ' rows' "
        f"FROM pg_tables WHERE {USER_SCHEMAS}"
    )


def table_count_sql() -> str:
    return f"SELECT count(*) FROM pg_tables WHERE {USER_SCHEMAS}"


def drop_sql(database: str) -> str:
    return f"DROP DATABASE IF EXISTS {ident(database)} WITH (FORCE)"


def connections_sql(database: str, allow: bool) -> str:
    return f"ALTER DATABASE {ident(database)} ALLOW_CONNECTIONS {str(allow).lower()}"


def rename_sql(old: str, new: str) -> list[str]:
    """End the sessions of ``old``, then rename it (each its own transaction)."""
    return [
        (
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            f"WHERE datname = {literal(old)} AND pid <> pg_backend_pid()"
        ),
        f"ALTER DATABASE {ident(old)} RENAME TO {ident(new)}",
    ]


def archive_tables(listing: str) -> int:
    """How many tables (not their data) a ``pg_restore --list`` names."""
    return len(re.findall(r"^\d+; \d+ \d+ TABLE [^D]", listing, re.MULTILINE))


def backup_name(data_mode: str, database: str, when: datetime, label: str = "") -> str:
    stamp = when.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{data_mode}-{database}-{stamp}{'-' + label if label else ''}.dump"


def ours(names: list[str], prefix: str) -> list[str]:
    """The dumps of this mode and database (``prefix``), newest first."""
    ours = [n for n in names if n.startswith(prefix) and BACKUP_NAME.match(n[len(prefix) :])]
    return sorted(ours, reverse=True)


def kept_for_media(names: list[str], prefix: str, keep: int) -> str:
    """The newest backup that has a media archive when it is not among the
    newest ``keep`` (database-only pre-migrate dumps pushed it out): it is
    kept anyway, so that retention never removes every copy of the uploads."""
    mine = ours(names, prefix)
    with_media = [n for n in mine if media.archive_name(n) in names]
    if keep <= 0 or not with_media or with_media[0] in mine[:keep]:
        return ""
    return with_media[0]


def to_prune(names: list[str], prefix: str, keep: int) -> list[str]:
    """Backups beyond the newest ``keep`` whose names start with ``prefix``
    (names sort by time), but the one kept_for_media; keep 0 keeps them all."""
    if keep <= 0:
        return []
    spared = kept_for_media(names, prefix, keep)
    return [n for n in ours(names, prefix)[keep:] if n != spared]


@contextmanager
def locked(directory: Path) -> Iterator[None]:
    """One backup, prune or restore of BACKUP_DIR at a time, between sh run.sh
    and the scheduled backups (scheduled.py): an flock on the directory
    itself (the same inode on both sides of the bind mount), so that neither
    prunes a file the other is writing or restoring. Reentrant within a
    process; none while the directory does not exist (nothing to prune)."""
    if _held[0] or not directory.is_dir():
        _held[0] += 1
        try:
            yield
        finally:
            _held[0] -= 1
        return
    handle = os.open(directory, os.O_RDONLY)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"waiting for the backup or restore that is using {directory} (a scheduled one?)")
            fcntl.flock(handle, fcntl.LOCK_EX)
        _held[0] += 1
        try:
            yield
        finally:
            _held[0] -= 1
    finally:
        os.close(handle)


def backup_keep(value: str) -> int:
    if not value.isdigit():
        raise Refused(f"BACKUP_KEEP must be a whole number (0 keeps every backup); it is '{value}'")
    return int(value)


class Database:
    """The mode's database, reached through its db container."""

    def __init__(self, project: Project, target: DbTarget | None = None):
        self.project = project
        self._target = target
        self.runner = project.runner
        settings = project.settings
        self.name, self.user = settings.db_name, settings.db_user
        self.data_mode = project.current.data

    @property
    def target(self) -> DbTarget:
        """Where the db commands run: Compose's db service, or a Swarm task's
        container (swarm.TaskContainer)."""
        return self._target or self.project.compose

    @property
    def backup_dir(self) -> Path:
        return self.project.root / self.project.settings.driver["backup_dir"]

    def sql(self, database: str, *statements: str, quiet: bool = False) -> str | None:
        """The output of ``statements`` in ``database``, or None if one failed."""
        argv = self.target.sql(self.user, database, *statements)
        done = self.runner.run(argv, quiet=quiet)
        return done.stdout.strip() if done.ok else None

    def exists(self, database: str) -> bool:
        return self.sql("postgres", exists_sql(database), quiet=True) == "1"

    def summary(self, database: str) -> str:
        return self.sql(database, summary_sql()) or "(no summary)"

    # -- backup ------------------------------------------------------------------

    def keep_newest(self) -> int:
        """BACKUP_KEEP, checked."""
        return backup_keep(self.project.settings.driver["backup_keep"])

    def ensure_backup_dir(self) -> Path:
        """BACKUP_DIR, created by this user if need be."""
        directory = self.backup_dir
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError:
            raise Refused(
                f"cannot create BACKUP_DIR {directory}: check the path and its permissions"
            ) from None
        return directory

    def backup_path(self, label: str = "") -> Path:
        """The path of a new backup in BACKUP_DIR (created if need be): one
        per second at most, so that names sort in time."""
        directory = self.ensure_backup_dir()
        while True:
            path = directory / backup_name(self.data_mode, self.name, datetime.now(), label)
            if not path.exists() and not media.archive_path(path).exists():
                return path
            time.sleep(1)

    def backup(self, label: str = "") -> Path:
        """pg_dump into BACKUP_DIR; the file's path. One snapshot (consistent
        while web keeps writing); a partial file never carries a backup's name.
        The database alone: commands.py adds the media archive where wanted.
        Nothing is pruned here: ``prune`` once the whole backup is in place."""
        self.keep_newest()  # a wrong BACKUP_KEEP is refused before anything is written
        path = self.backup_path(label)
        partial = path.with_name(path.name + ".partial")
        started = time.monotonic()
        argv = self.target.exec(
            "db", "pg_dump", "-U", self.user, "-d", self.name, "--format=custom"
        )
        old_umask = os.umask(0o077)
        try:
            done = self.runner.run(argv, stdout=partial)
        finally:
            os.umask(old_umask)
        if not done.ok:
            partial.unlink(missing_ok=True)
            raise Refused(f"pg_dump of {self.name} failed (above); no backup was written")
        partial.rename(path)
        size = path.stat().st_size
        say(f"backup: {path} ({size_text(size)}, {time.monotonic() - started:.0f} s)")
        return path

    def prune(self, keep: Path | None = None) -> None:
        """Remove the backups beyond the newest BACKUP_KEEP, each dump with its
        media archive; never ``keep`` (a backup about to be restored) or its
        archive. Run it only after a complete backup: a failed one prunes nothing."""
        with locked(self.backup_dir):
            self._prune(keep)

    def _prune(self, keep: Path | None) -> None:
        newest = self.keep_newest()
        directory = self.backup_dir
        prefix = f"{self.data_mode}-{self.name}-"
        names = sorted(p.name for p in directory.iterdir())
        for old in to_prune(names, prefix, newest):
            if keep is None or (directory / old).resolve() != keep.resolve():
                self._remove_pair(directory / old, newest)
        spared = kept_for_media(names, prefix, newest)
        if spared:
            say(
                f"kept {directory / spared} beyond BACKUP_KEEP={newest}: it is the newest "
                "backup with a media archive (the newer ones are the database alone)"
            )

    @staticmethod
    def _remove_pair(dump: Path, newest: int) -> None:
        """A pruned backup: the dump and its media archive, when it has one."""
        archive = media.archive_path(dump)
        also = " and its media archive" if archive.exists() else ""
        dump.unlink(missing_ok=True)
        archive.unlink(missing_ok=True)
        say(f"removed old backup {dump}{also} (BACKUP_KEEP={newest})")

    # -- restore -----------------------------------------------------------------

    def listing(self, archive: Path) -> str | None:
        """``pg_restore --list`` of the archive, or None when it is not one."""
        done = self.runner.run(
            self.target.exec("db", "pg_restore", "--list"), stdin=archive, quiet=True
        )
        return done.stdout if done.ok else None

    def check_archive(self, archive: Path) -> None:
        if self.listing(archive) is None:
            raise Refused(
                f"{archive} is not a pg_dump custom-format archive (pg_restore --list "
                "rejects it); the database was not touched"
            )

    def restore(self, archive: Path) -> bool:
        """Restore ``archive`` into a new database, check it, then swap it in
        for the mode's database. Until the swap the database is untouched."""
        fresh, old = f"{self.name}__restoring", f"{self.name}__replaced"
        if not self.restore_into(fresh, archive):
            return False
        replacing = self.exists(self.name)
        if replacing:
            if self.sql("postgres", connections_sql(self.name, allow=False)) is None:
                return False
            if not self._rename(self.name, old):
                self.sql("postgres", connections_sql(self.name, allow=True))
                return False
        if not self._rename(fresh, self.name):
            if replacing:  # put the old one back under its name
                self._rename(old, self.name)
                self.sql("postgres", connections_sql(self.name, allow=True))
            return False
        self.sql("postgres", drop_sql(old))
        return True

    def restore_into(self, fresh: str, archive: Path) -> bool:
        """``archive`` into a new database ``fresh`` (dropped first), checked
        against the archive's list of tables; on a failure it is dropped."""
        if self.sql("postgres", drop_sql(fresh), f"CREATE DATABASE {ident(fresh)}") is None:
            return False
        argv = self.target.exec(
            "db", "pg_restore", "-U", self.user, "-d", fresh,
            "--no-owner", "--single-transaction", "--exit-on-error",
        )  # fmt: skip
        if not self.runner.run(argv, stdin=archive).ok:
            self.sql("postgres", drop_sql(fresh))
            return False
        expected = archive_tables(self.listing(archive) or "")
        restored = self.sql(fresh, table_count_sql())
        if restored != str(expected):
            say(f"the restored copy has {restored} tables where the archive lists {expected}")
            self.sql("postgres", drop_sql(fresh))
            return False
        return True

    def _rename(self, old: str, new: str) -> bool:
        """Renaming needs the database's sessions gone: end them, retry briefly."""
        for _ in range(RENAME_ATTEMPTS):
            if self.sql("postgres", *rename_sql(old, new), quiet=True) is not None:
                return True
            time.sleep(RENAME_PAUSE)
        say(f"database {old} stayed in use for 10 s; it was not renamed")
        return False
