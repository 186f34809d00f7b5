"""Scheduled backups: the loop of compose.yml's ``backup`` service, which runs
this module on the db image (docker/postgres/Dockerfile, target backup), and
the status it leaves in BACKUP_DIR for the host's ``sh run.sh`` to read.

At each time of BACKUP_SCHEDULE it takes the backup ``sh run.sh backup``
takes, under the same names and retention (database.py, media.py): the dump
(``<mode>-<db>-<time>-scheduled.dump``), the media archive beside it with
filesystem uploads, then BACKUP_KEEP applied. Then a full base backup of the
WAL archive (``pgbackrest-pitr backup`` in the db container, through SQL), after which
pgBackRest expires what PITR_BASE_BACKUPS_KEEP lets go. With BACKUP_S3_BUCKET
the dump and its media archive are uploaded too (encrypted with age to
BACKUP_AGE_RECIPIENT when set) and BACKUP_KEEP applies in the bucket
(offsite.py); a failed upload fails the run. Between runs, every
WAL_ARCHIVE_TIMEOUT seconds, the WAL archive's new files go to the bucket
too (wal_offsite.py, bucket.ArchiveCopy). The outcome of each
run goes to ``.<mode>-<db>-scheduled.json`` in BACKUP_DIR: a failed run makes
the service unhealthy (``health``), shows in ``sh run.sh -0 status``, and the
next ``sh run.sh -0`` says so.

    python3 -m driver.scheduled run      the loop (the service's command)
    python3 -m driver.scheduled once     one backup now, then exit
    python3 -m driver.scheduled health   exit 1 when the last run failed
    python3 -m driver.scheduled upload NAME   NAME (and its media archive) to the bucket
    python3 -m driver.scheduled list     the bucket's backups of this mode, newest first
    python3 -m driver.scheduled fetch NAME    NAME (and its media archive) from the
                                         bucket into BACKUP_DIR, decrypted with the
                                         identity at offsite.IDENTITY when NAME.age
    python3 -m driver.scheduled fetch-archive [DIR]   the WAL archives the bucket
                                         holds and the archive volume (mounted
                                         writable at DIR) lacks

The service runs as root with two capabilities, CHOWN and DAC_OVERRIDE: it
writes into BACKUP_DIR, a host directory of whatever owner, and gives each
file that owner, as ``sh run.sh backup`` leaves them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

from driver import media, offsite, wal_offsite
from driver.bucket import BACKUP_DIR, ArchiveCopy, Offsite, give, secret
from driver.console import Refused
from driver.database import backup_keep, backup_name, kept_for_media, locked, to_prune
from driver.schedule import (
    OFF,
    Status,
    parse_schedule,
    problem,
    read_status,
    stamp,
    status_line,
    status_name,
)
from driver.settings import FILESYSTEM

LABEL = "scheduled"
MEDIA_ROOT = media.MEDIA_ROOT  # the service's mount of the media volume
OWN_STATUS = Path("/tmp/backup-status.json")  # its tmpfs: the health check reads it
WAL_ROOT = Path(wal_offsite.MOUNT)
# COPY FROM PROGRAM reads each line whole: no delimiter or quote in its text.
RAW_LINES = "(FORMAT csv, DELIMITER E'\\x02', QUOTE E'\\x01')"
# -- one run (in the backup container) -----------------------------------------------


def _password(env: dict[str, str]) -> str:
    return secret(env, "POSTGRES_PASSWORD")


class Run:
    """One scheduled backup, with the service's environment."""

    def __init__(self, env: dict[str, str], directory: Path = BACKUP_DIR):
        self.env = env
        self.directory = directory
        self.mode = env.get("BACKUP_DATA_MODE", "prod")
        self.database = env.get("POSTGRES_DB", "app")
        self.keep = backup_keep(env.get("BACKUP_KEEP", "10"))
        self.client = {**env, "PGHOST": env.get("PGHOST", "db"), "PGPASSWORD": _password(env)}
        self.client["PGUSER"] = env.get("POSTGRES_USER", "app")
        self.offsite = Offsite(env, directory)

    @property
    def prefix(self) -> str:
        return f"{self.mode}-{self.database}-"

    def _write(self, name: str, argv: list[str], ok_codes: tuple[int, ...] = (0,)) -> Path:
        """``argv``'s stdout into ``name`` in BACKUP_DIR: a partial file never
        carries the name."""
        path = self.directory / name
        partial = path.with_name(name + ".partial")
        with open(partial, "wb", opener=lambda p, f: os.open(p, f, 0o600)) as out:
            done = subprocess.run(
                argv, check=False, stdout=out, stderr=subprocess.PIPE, env=self.client
            )
        if done.returncode not in ok_codes:
            partial.unlink(missing_ok=True)
            detail = done.stderr.decode(errors="replace").strip().splitlines()
            raise RuntimeError(f"{argv[0]} failed: {detail[-1] if detail else done.returncode}")
        give(self.directory, partial)
        partial.rename(path)
        return path

    def dump(self, now: datetime) -> Path:
        name = backup_name(self.mode, self.database, now, LABEL)
        return self._write(name, ["pg_dump", "-d", self.database, "--format=custom"])

    def media(self, dump: Path) -> None:
        backend = self.env.get("STORAGE_BACKEND", "").strip().lower()
        if backend not in ("", FILESYSTEM):
            return  # the uploads are in the bucket
        archive = self._write(
            media.archive_name(dump.name),
            ["tar", *media.tar_args(str(MEDIA_ROOT))],
            ok_codes=(0, media.TAR_CHANGED),
        )
        try:
            media.read_archive(archive)
        except Refused as error:
            archive.unlink(missing_ok=True)
            raise RuntimeError(f"the media archive came out unreadable: {error}") from None

    def prune(self) -> None:
        names = sorted(p.name for p in self.directory.iterdir())
        for old in to_prune(names, self.prefix, self.keep):
            (self.directory / old).unlink(missing_ok=True)
            (self.directory / media.archive_name(old)).unlink(missing_ok=True)
            print(f"removed old backup {old} (BACKUP_KEEP={self.keep})")
        spared = kept_for_media(names, self.prefix, self.keep)
        if spared:
            print(f"kept {spared} beyond BACKUP_KEEP: the newest backup with a media archive")

    def base_backup(self) -> None:
        """``pgbackrest-pitr backup`` in the db container (COPY FROM PROGRAM runs it
        there, as postgres), its output read back whole."""
        program = 'pgbackrest-pitr backup 2>&1; echo "exit $?"'
        statements = [  # each its own transaction: none holds a snapshot meanwhile
            "CREATE TEMP TABLE pitr_output (line text)",
            f"COPY pitr_output FROM PROGRAM '{program}' {RAW_LINES}",
            "SELECT line FROM pitr_output",
        ]
        argv = ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", self.database]
        done = subprocess.run(
            [*argv, *(word for sql in statements for word in ("-c", sql))],
            check=False, capture_output=True, text=True, env=self.client,
        )  # fmt: skip
        lines = done.stdout.strip().splitlines()
        if done.returncode or not lines or lines[-1] != "exit 0":
            detail = [line for line in [*lines[:-1], done.stderr.strip()] if line]
            raise RuntimeError(f"the base backup failed: {detail[-1] if detail else 'no output'}")

    def clean(self) -> None:
        """Partial files of this service's own runs, left by a stop mid-run."""
        for partial in self.directory.glob(f"{self.prefix}*-{LABEL}.*.partial"):
            partial.unlink(missing_ok=True)

    def __call__(self) -> Status:
        started, now = time.monotonic(), datetime.now(timezone.utc)
        status = Status(last_at=stamp(now))
        try:
            # Never beside a backup, prune or restore of sh run.sh's.
            with locked(self.directory):
                dump = self.dump(now)
                status.dump = dump.name
                self.media(dump)
                self.prune()
            if self.offsite.target is not None:
                self.offsite.upload(dump)
                self.offsite.prune(self.prefix, self.keep)
            self.base_backup()
        except (OSError, RuntimeError, ValueError, Refused) as error:
            status.ok, status.error = False, str(error)
        status.seconds = round(time.monotonic() - started, 1)
        return status


def _save(path: Path, status: Status) -> None:
    """The status into the container's own copy (the health check's), then
    into BACKUP_DIR for sh run.sh; a BACKUP_DIR that takes no file fails the
    status itself, so that the health check says so."""
    text = json.dumps(asdict(status), indent=1) + "\n"
    try:
        partial = path.with_name(path.name + ".partial")
        partial.write_text(text)
        owner = path.parent.stat()
        os.chown(partial, owner.st_uid, owner.st_gid)
        partial.rename(path)
    except OSError as error:
        status.ok = False
        status.error = f"{status.error + '; ' if status.error else ''}BACKUP_DIR: {error}"
        text = json.dumps(asdict(status), indent=1) + "\n"
    OWN_STATUS.write_text(text)


class _Copier:
    """The WAL archive's copy, every WAL_ARCHIVE_TIMEOUT seconds; its outcome
    in the status (saved when it changes)."""

    def __init__(self, copy: ArchiveCopy, interval: float, path: Path):
        self.copy, self.interval, self.path = copy, interval, path

    def __call__(self, status: Status) -> None:
        try:
            copied = self.copy.sync()
        except (OSError, RuntimeError) as error:
            if not status.archive_error:
                print(f"backup: the WAL archive's copy in the bucket failed: {error}")
            status.archive_error = str(error)
            _save(self.path, status)
            return
        if copied or status.archive_error:
            status.archive_error = ""
            status.archive_copied_at = stamp(datetime.now(timezone.utc))
            _save(self.path, status)


def _archive_copy(run: Run, env: dict[str, str], path: Path) -> _Copier | None:
    """With a bucket and the archive volume mounted, its copier (the status
    saved to ``path``)."""
    if run.offsite.target is None or not WAL_ROOT.is_dir():
        return None
    interval = wal_offsite.interval(env.get("WAL_ARCHIVE_TIMEOUT", ""))
    fail_fast = Offsite({**env, **wal_offsite.FAIL_FAST}, run.directory)
    return _Copier(ArchiveCopy(fail_fast, WAL_ROOT), interval, path)


def _bucket(run: Run, command: str, args: list[str]) -> int:
    """upload NAME, list, fetch NAME: the host's sh run.sh runs them in a
    one-off container of the service."""
    offsite_ = run.offsite
    if offsite_.target is None:
        print("backup: BACKUP_S3_BUCKET is not set: no copies off the host", file=sys.stderr)
        return 2
    try:
        if command == "list":
            objects = offsite_.objects()
            for name in offsite.backups(objects, run.prefix):
                print(offsite.find(objects, name))
            return 0
        if command == "fetch-archive":
            root = Path(args[0]) if len(args) == 1 else WAL_ROOT
            fetched = ArchiveCopy(offsite_, root).fetch()
            print(
                f"fetched the WAL archive of {', '.join(fetched)} from the bucket"
                if fetched
                else "the bucket holds no WAL archive that the archive volume lacks"
            )
            return 0
        if len(args) != 1:
            print(f"backup: {command} takes one NAME", file=sys.stderr)
            return 2
        if command == "upload":
            offsite_.upload(run.directory / args[0])
            offsite_.prune(run.prefix, run.keep)
        else:
            offsite_.fetch(offsite.check_name(args[0]), run.prefix)
    except (OSError, RuntimeError, ValueError) as error:
        print(f"backup: {error}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str]) -> int:
    env = dict(os.environ)
    command = argv[0] if argv else "run"
    path = BACKUP_DIR / status_name(
        env.get("BACKUP_DATA_MODE", "prod"), env.get("POSTGRES_DB", "app")
    )
    if command == "health":
        status = read_status(OWN_STATUS) or read_status(path)
        print(status_line(status))
        return 1 if problem(status) else 0
    try:
        schedule = parse_schedule(env.get("BACKUP_SCHEDULE", OFF))
        run = Run(env)
    except (ValueError, Refused) as error:
        print(f"backup: {error}", file=sys.stderr)
        return 2
    if command in ("upload", "list", "fetch", "fetch-archive"):
        return _bucket(run, command, argv[1:])
    if command == "once":
        status = run()
        _save(path, status)
        print(status_line(status))
        return 0 if status.ok else 1
    # A stop (docker stop, a deploy) ends the loop at once, mid-run too: the
    # run's partial files are removed at the next start.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    run.clean()
    status = read_status(path) or Status()
    copier = _archive_copy(run, env, path)
    if copier is None:  # no copy (any more): nothing of one to report
        status.archive_copied_at = status.archive_error = ""
    if schedule is None:
        print("backup: BACKUP_SCHEDULE=off: no scheduled backups")
    while True:
        due = None if schedule is None else schedule.next_run(datetime.now(timezone.utc))
        status.next_at = "" if due is None else stamp(due)
        _save(path, status)
        if due is not None:
            print(f"backup: next at {status.next_at}")
        # Meanwhile, the WAL archive's new files go to the bucket.
        while due is None or datetime.now(timezone.utc) < due:
            if copier is not None:
                copier(status)
            left = 3600.0 if due is None else (due - datetime.now(timezone.utc)).total_seconds()
            time.sleep(max(0.0, min(left, copier.interval if copier else left)))
        last = status
        status = run()  # saved at the top of the loop; its base backup copied right after
        status.archive_copied_at, status.archive_error = last.archive_copied_at, last.archive_error
        print(status_line(status))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
