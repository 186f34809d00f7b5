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
(offsite.py); a failed upload fails the run. The outcome of each
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

from driver import media, offsite
from driver.console import Refused
from driver.database import backup_keep, backup_name, kept_for_media, to_prune
from driver.schedule import OFF, Status, parse_schedule, read_status, status_line, status_name
from driver.settings import FILESYSTEM

LABEL = "scheduled"
BACKUP_DIR, MEDIA_ROOT = Path("/backups"), media.MEDIA_ROOT  # the service's mounts
# COPY FROM PROGRAM reads each line whole: no delimiter or quote in its text.
RAW_LINES = "(FORMAT csv, DELIMITER E'\\x02', QUOTE E'\\x01')"
# -- one run (in the backup container) -----------------------------------------------


def _stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _secret(env: dict[str, str], name: str) -> str:
    """A setting, or the content of the file its NAME_FILE names (Swarm's secrets)."""
    secret = env.get(f"{name}_FILE", "")
    return Path(secret).read_text().strip() if secret else env.get(name, "")


def _password(env: dict[str, str]) -> str:
    return _secret(env, "POSTGRES_PASSWORD")


def _give(directory: Path, path: Path) -> None:
    """The file to ``directory``'s owner, as sh run.sh backup leaves it."""
    owner = directory.stat()
    os.chown(path, owner.st_uid, owner.st_gid)


def _failure(argv: list[str], stderr: bytes, returncode: int | None) -> str:
    lines = stderr.decode(errors="replace").strip().splitlines()
    return f"{argv[0]} failed: {lines[-1] if lines else f'exit {returncode}'}"


def _pipe(
    first: list[str], second: list[str], stdin: int, stdout: int, env: dict[str, str]
) -> None:
    """``first | second``, from the file ``stdin`` to ``stdout``; RuntimeError
    naming the one that failed."""
    one = subprocess.Popen(
        first, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    assert one.stdout is not None and one.stderr is not None
    two = subprocess.Popen(second, stdin=one.stdout, stdout=stdout, stderr=subprocess.PIPE, env=env)
    one.stdout.close()  # two holds it: one gets SIGPIPE when two goes
    _, two_err = two.communicate()
    one_err = one.stderr.read()
    one.wait()
    # The one that failed first: ``first`` killed by SIGPIPE only followed ``second``.
    if one.returncode and one.returncode != -signal.SIGPIPE:
        raise RuntimeError(_failure(first, one_err, one.returncode))
    if two.returncode:
        raise RuntimeError(_failure(second, two_err, two.returncode))
    if one.returncode:
        raise RuntimeError(_failure(first, one_err, one.returncode))


class Offsite:
    """The bucket of BACKUP_S3_BUCKET, through rclone (and age), with the
    service's environment; ``target`` None: no copies off the host."""

    def __init__(self, env: dict[str, str], directory: Path = BACKUP_DIR):
        self.directory = directory
        self.target = offsite.target(env)
        self.env = {**env, **offsite.rclone_env(env, _secret(env, "BACKUP_S3_SECRET_ACCESS_KEY"))}

    def _run(self, argv: list[str]) -> str:
        done = subprocess.run(argv, check=False, capture_output=True, env=self.env)
        if done.returncode:
            raise RuntimeError(_failure(argv, done.stderr, done.returncode))
        return done.stdout.decode(errors="replace")

    def objects(self) -> list[str]:
        assert self.target is not None
        return self._run(offsite.list_argv(self.target)).splitlines()

    def upload(self, dump: Path) -> None:
        """The dump and its media archive (when there is one), each
        encrypted on the way when a recipient is set: streamed, never a
        copy in /tmp."""
        target = self.target
        assert target is not None
        if not dump.is_file():
            raise RuntimeError(f"no {dump.name} in BACKUP_DIR to upload")
        for path in (dump, media.archive_path(dump)):
            if not path.is_file():
                continue
            name = target.object_name(path.name)
            if target.recipient:
                with open(path, "rb") as source:
                    _pipe(
                        offsite.encrypt_argv(target.recipient),
                        offsite.upload_argv(target, name),
                        source.fileno(), subprocess.DEVNULL, self.env,
                    )  # fmt: skip
            else:
                self._run(offsite.upload_argv(target, name, str(path)))
            print(f"uploaded {target.shown(name)}")

    def prune(self, prefix: str, keep: int) -> None:
        """BACKUP_KEEP in the bucket: local retention's rule."""
        assert self.target is not None
        for name in offsite.to_delete(self.objects(), prefix, keep):
            self._run(offsite.delete_argv(self.target, name))
            print(f"removed old backup {self.target.shown(name)} (BACKUP_KEEP={keep})")

    def fetch(self, name: str, prefix: str) -> None:
        """Backup ``name`` and its media archive from the bucket into the
        directory, decrypted with the identity at offsite.IDENTITY when they
        are encrypted; a partial file never carries a backup's name, and a
        backup already there is never overwritten."""
        target = self.target
        assert target is not None
        objects = self.objects()
        found = offsite.find(objects, name)
        if not found:
            ours = [offsite.find(objects, n) for n in offsite.backups(objects, prefix)[:5]]
            newest = f"; the newest there: {', '.join(ours)}" if ours else "; it holds no backup"
            raise RuntimeError(f"no {name} in {target.shown()}{newest}")
        pairs = [(found, name)]
        archive = offsite.find(objects, media.archive_name(name))
        if archive:
            pairs.append((archive, media.archive_name(name)))
        for _, local in pairs:
            if (self.directory / local).exists():
                raise RuntimeError(
                    f"{local} is in BACKUP_DIR already: restore that file (nothing was downloaded)"
                )
        for remote, local in pairs:
            path = self.directory / local
            partial = path.with_name(local + ".partial")
            try:
                with open(partial, "wb", opener=lambda p, f: os.open(p, f, 0o600)) as out:
                    if remote.endswith(offsite.AGE_SUFFIX):
                        if not Path(offsite.IDENTITY).is_file():
                            raise RuntimeError(
                                f"{remote} is encrypted: give the age identity file "
                                "(restore --from-bucket NAME --identity FILE)"
                            )
                        _pipe(
                            offsite.download_argv(target, remote), offsite.decrypt_argv(),
                            subprocess.DEVNULL, out.fileno(), self.env,
                        )  # fmt: skip
                    else:
                        download = offsite.download_argv(target, remote)
                        done = subprocess.run(
                            download, check=False, stdout=out, stderr=subprocess.PIPE, env=self.env
                        )
                        if done.returncode:
                            raise RuntimeError(_failure(download, done.stderr, done.returncode))
            except BaseException:
                partial.unlink(missing_ok=True)
                raise
            _give(self.directory, partial)
            partial.rename(path)
            print(f"downloaded {target.shown(remote)} into BACKUP_DIR as {local}")


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
        _give(self.directory, partial)
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
        sql = (
            "CREATE TEMP TABLE pitr_output (line text); "
            f"COPY pitr_output FROM PROGRAM 'pgbackrest-pitr backup 2>&1; echo \"exit $?\"' {RAW_LINES}; "
            "SELECT line FROM pitr_output"
        )
        done = subprocess.run(
            ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", self.database, "-c", sql],
            check=False, capture_output=True, text=True, env=self.client,
        )  # fmt: skip
        lines = done.stdout.strip().splitlines()
        if done.returncode or not lines or lines[-1] != "exit 0":
            detail = [line for line in [*lines[:-1], done.stderr.strip()] if line]
            raise RuntimeError(f"the base backup failed: {detail[-1] if detail else 'no output'}")

    def __call__(self) -> Status:
        started, now = time.monotonic(), datetime.now(timezone.utc)
        status = Status(last_at=_stamp(now))
        try:
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
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(asdict(status), indent=1) + "\n")
    owner = path.parent.stat()
    os.chown(partial, owner.st_uid, owner.st_gid)
    partial.rename(path)


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
        status = read_status(path)
        print(status_line(status))
        return 0 if status is None or status.ok else 1
    try:
        schedule = parse_schedule(env.get("BACKUP_SCHEDULE", OFF))
        run = Run(env)
    except (ValueError, Refused) as error:
        print(f"backup: {error}", file=sys.stderr)
        return 2
    if command in ("upload", "list", "fetch"):
        return _bucket(run, command, argv[1:])
    if command == "once":
        status = run()
        _save(path, status)
        print(status_line(status))
        return 0 if status.ok else 1
    if schedule is None:
        print("backup: BACKUP_SCHEDULE=off: no scheduled backups; sleeping")
        while True:
            time.sleep(3600)
    status = read_status(path) or Status()
    while True:
        due = schedule.next_run(datetime.now(timezone.utc))
        status.next_at = _stamp(due)
        _save(path, status)
        print(f"backup: next at {status.next_at}")
        time.sleep(max(0.0, (due - datetime.now(timezone.utc)).total_seconds()))
        status = run()
        print(status_line(status))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
