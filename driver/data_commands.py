"""The commands on a mode's data: ``backup`` and ``restore``. Each is one
function whose docstring is its help, as in commands.py."""

from __future__ import annotations

import time
from pathlib import Path

from driver import bucket_commands, media, offsite, pitr, schedule, verify
from driver.console import Refused, UsageError, confirm, say
from driver.database import Database, locked
from driver.media import Media
from driver.project import Project
from driver.rollout import Container, Rollout


def backup(project: Project, args: list[str]) -> int:
    """Back up MODE into BACKUP_DIR: the database (pg_dump) and the uploads beside it, and into BACKUP_S3_BUCKET when set; keeps the newest BACKUP_KEEP (--verify [FILE]: restore the newest into a scratch database and compare; --list-bucket: the bucket's backups).

    The dump is <mode>-<db>-<time>.dump (custom format, one consistent
    snapshot; web keeps serving). With filesystem media the uploads follow
    right after it, as <mode>-<db>-<time>.media.tar (an uncompressed tar of
    the media volume): every file the dump's rows name is in it, unless it
    was deleted in between. With object storage (STORAGE_BACKEND) no media
    is copied: the uploads are in the bucket (protect it with the provider's
    versioning or replication). BACKUP_KEEP counts a dump and its media
    archive as one backup and removes them together, once the new backup is
    complete (a failed media archive removes none). The pre-migrate backup
    of a deploy is the database alone (a migration does not touch uploads);
    it counts too, but the newest backup with a media archive is never
    removed, kept beyond BACKUP_KEEP if need be.

    --verify [FILE]: no new backup; the newest one (or FILE) is restored into
    a scratch database, every table's row count and a checksum of its rows
    are compared with what the dump holds, and its media archive is read
    through; the scratch database is dropped afterwards (verify.py).

    With BACKUP_S3_BUCKET the new backup (dump and media archive) is then
    uploaded to the bucket, encrypted with age to BACKUP_AGE_RECIPIENT when
    set (NAME.age), and BACKUP_KEEP applies there too (offsite.py, in a
    one-off container of the backup service); a failed upload fails the
    command. --list-bucket: the names of this mode's backups there, newest
    first, for restore --from-bucket NAME.
    """
    if args and args[0] == "--verify":
        return _verify(project, args[1:])
    if args == ["--list-bucket"]:
        project.prepare_existing()
        bucket_commands.require(project)
        if not bucket_commands.in_backup_service(project, "list"):
            raise Refused("listing the bucket failed (above)")
        return 0
    if args:
        raise UsageError(
            "backup takes no arguments but --verify [FILE] or --list-bucket "
            "(BACKUP_DIR and BACKUP_KEEP are settings)"
        )
    project.prepare_existing()
    with locked(Database(project).backup_dir):
        project.require_stack_db("backup")
        project.start_db()
        _backup_with_media(project)
        return 0


def _verify(project: Project, args: list[str]) -> int:
    """backup --verify [FILE]: the newest backup (or FILE) restored into a
    scratch database and compared with what the dump holds."""
    if len(args) > 1 or (args and args[0].startswith("-")):
        raise UsageError("backup --verify takes at most one FILE")
    project.prepare_existing()
    with locked(Database(project).backup_dir):
        project.require_stack_db("backup --verify")
        project.start_db()
        database = Database(project)
        if args:
            archive = project.caller_dir / args[0]
            if not archive.is_file():
                raise Refused(f"no such backup file: {archive}")
        else:
            found = verify.latest(database.backup_dir, f"{database.data_mode}-{database.name}-")
            if found is None:
                raise Refused(f"no backup of {database.name} in {database.backup_dir} to verify")
            archive = found
        verify.Verify(database)(archive)
        return 0


def _backup_with_media(project: Project, label: str = "", keep: Path | None = None) -> Path:
    """The database dump, then the media archive of the same stem beside it;
    old backups are pruned only once both are in place (never ``keep``);
    then the copy off the host, when a bucket is set."""
    database = Database(project)
    dump = database.backup(label)
    Media(project).backup(dump)
    database.prune(keep=keep)
    if bucket_commands.configured(project) and not bucket_commands.in_backup_service(
        project, "upload", dump.name
    ):
        lost = f"the copy off the host failed (above): {dump} is in BACKUP_DIR only"
        if keep is None:
            raise Refused(lost)
        say(f"warning: {lost}")  # a restore goes on: the backup before it is here
    return dump


def restore(project: Project, args: list[str]) -> int:
    """Replace MODE's database, and its uploads, with a backup FILE, one from the bucket (--from-bucket NAME [--identity FILE]), or the database as it was at --time TIME (or latest; --archive-from-bucket: the WAL archive from the bucket), after you type its name (--yes: no question); web and the workers are stopped meanwhile.

    The dump is checked first (pg_restore --list), and so is FILE's media
    archive when one is beside it (FILE with .media.tar for .dump: a tar
    archive, its files and bytes read). Then a pre-restore backup (database
    and media; the media alone when the database does not exist) is taken
    and the uploads are extracted into a staging directory in the media
    volume and checked against the archive, all while web serves. Then web
    and the workers stop (a worker after its running tasks), the dump is restored into a new database, checked and swapped in,
    the staged uploads are swapped in for the current ones (renames in the
    volume), and they come back: a restore that fails changes nothing, but
    for that last swap, whose failure says at which step and where each
    tree is. Without a media archive (pre-migrate backups, older ones) the
    uploads are left as they are; with object storage too.

    --time TIME instead of FILE: the database back as it was at TIME (UTC,
    'YYYY-MM-DD HH:MM:SS', or with an offset), from the WAL archive
    (point-in-time recovery), after the same confirmation and pre-restore
    backup, with web and the workers stopped meanwhile; the uploads are left
    as they are. --time latest: the last moment the archive holds of the
    database that ran before this one (after a lost data volume).

    --from-bucket NAME instead of FILE: NAME (as backup --list-bucket shows
    it) and its media archive are downloaded from BACKUP_S3_BUCKET into
    BACKUP_DIR first, decrypted with the age identity file --identity FILE
    when they are NAME.age; then restored as FILE would be.

    --archive-from-bucket, with --time: first the WAL archives the bucket
    holds and this server's archive volume lacks are downloaded into it
    (decrypted with --identity FILE): after the server was lost whole,
    --time latest brings the database back to the end of that copy.
    """
    files: list[str] = []
    assume_yes = False
    when: str | None = None
    from_bucket: str | None = None
    identity = ""
    archive_from_bucket = False
    words = iter(args)
    for arg in words:
        if arg in ("-y", "--yes"):
            assume_yes = True
        elif arg == "--archive-from-bucket":
            archive_from_bucket = True
        elif arg in ("--from-bucket", "--identity"):
            value = next(words, None)
            if value is None or value.startswith("-"):
                what = (
                    "NAME (sh run.sh -0 backup --list-bucket)" if arg == "--from-bucket" else "FILE"
                )
                raise UsageError(f"restore {arg} needs a {what}")
            if arg == "--identity":
                identity = value
            else:
                from_bucket = value
        elif arg == "--time":
            when = next(words, None)
            if when is None:
                raise UsageError(
                    "restore --time needs a TIME, e.g. '2026-11-29 10:14:59' or latest"
                )
        elif arg.startswith("-"):
            raise UsageError(f"unknown option for restore: {arg}")
        elif files:
            raise UsageError(f"restore takes one FILE; got {files[0]} and {arg}")
        else:
            files.append(arg)
    if identity and from_bucket is None and not archive_from_bucket:
        raise UsageError("restore --identity goes with --from-bucket NAME or --archive-from-bucket")
    if archive_from_bucket and when is None:
        raise UsageError("restore --archive-from-bucket goes with --time TIME (or latest)")
    if when is not None:
        if files or from_bucket is not None:
            raise UsageError("restore takes a backup FILE or --time TIME, not both")
        return _restore_to_time(project, when, assume_yes, archive_from_bucket, identity)
    if from_bucket is not None:
        if files:
            raise UsageError("restore takes a backup FILE or --from-bucket NAME, not both")
        try:
            name = offsite.check_name(from_bucket)
        except ValueError as error:
            raise UsageError(str(error)) from None
        files.append(str(bucket_commands.fetch(project, name, identity)))
    if not files:
        raise UsageError(
            "restore needs a backup FILE, e.g. sh run.sh -0 restore "
            "backups/prod-app-20260101T000000Z.dump"
        )
    archive = project.caller_dir / files[0]
    if not archive.is_file():
        raise Refused(
            f"no such backup file: {archive} (sh run.sh backup writes them to BACKUP_DIR)"
        )
    project.prepare_existing()
    with locked(Database(project).backup_dir):
        project.require_stack_db("restore")
        project.start_db()
        database, uploads = Database(project), Media(project)
        database.check_archive(archive)
        media_archive = media.archive_path(archive)
        expected, media_note = _media_to_restore(uploads, media_archive)
        if not assume_yes:
            also = f" and every upload with {media_archive}" if expected else ""
            say(
                f"this replaces every row of the {project.current.data} database {database.name} "
                f"with {archive}{also} (a backup of it is taken first)."
            )
            confirm(
                "database name",
                database.name,
                "confirmation did not match; nothing was changed (scripts: --yes)",
            )
        started = time.monotonic()
        try:
            if database.exists(database.name):
                _backup_with_media(project, "pre-restore", keep=archive)
            elif expected is not None:  # never replace the uploads without a copy
                say(
                    f"database {database.name} does not exist: the pre-restore backup is the media alone"
                )
                uploads.backup(database.backup_path("pre-restore"))
        except Refused as error:
            raise Refused(
                f"the pre-restore backup failed, so nothing was restored: {error}"
            ) from None
        if expected is not None:
            uploads.stage(media_archive, expected)  # the current media untouched until the swap
        try:
            stopped = _stop_writers(project)
        except Refused:
            if expected is not None:
                uploads.discard()
            raise
        services = sorted({c.service for c in stopped})
        if not database.restore(archive):
            if expected is not None:
                uploads.discard()
            if stopped:
                project.runner.run(["docker", "start", *(c.id for c in stopped)], quiet=True)
            raise Refused("restore failed (above); the database and media were not changed")
        media_failure = "" if expected is None else uploads.swap()
        if services:
            argv = project.compose.up("--no-deps", "--no-recreate", *services)
            if project.runner.run(argv, capture=False).returncode != 0:
                project.up_failed()
        if media_failure:
            raise Refused(f"the database was restored from {archive}, but {media_failure}")
        say(
            f"restored {archive} into {database.name} in {time.monotonic() - started:.0f} s: "
            f"{database.summary(database.name)}"
        )
        say(media_note)
        return 0


def _stop_writers(project: Project) -> list[Container]:
    """Stop web and the workers (which write to the database and the storage
    too; a worker first finishes its tasks); the containers stopped."""
    rollout = Rollout(project)
    stopped = [*rollout.serving(), *rollout.running("worker")]  # web, or web-alt after a deploy
    services = sorted({c.service for c in stopped})
    if services:
        say(
            f"stopping {', '.join(services)} during the restore (a worker first finishes its tasks)"
        )
        if project.runner.run(project.compose("stop", *services), capture=False).returncode:
            raise Refused(
                f"{', '.join(services)} did not stop (above); the database and media were not changed"
            )
    return stopped


def _restore_to_time(
    project: Project, when: str, assume_yes: bool, from_bucket: bool, identity: str
) -> int:
    """restore --time: the database as it was at ``when``, from the WAL
    archive (``from_bucket``: fetched from the bucket first)."""
    moment = pitr.parse_time(when)
    if not project.current.is_prod:
        raise Refused("restore --time is production's: sh run.sh -0 restore --time TIME")
    if from_bucket:
        bucket_commands.fetch_archive(project, identity)
    project.prepare_existing()
    with locked(Database(project).backup_dir):
        project.require_stack_db("restore --time")
        project.start_db()
        recovery = pitr.Pitr(project)
        cluster, running = recovery.plan(moment)
        database = Database(project)
        at = "the end of its archive" if moment is None else schedule.stamp(moment)
        if not assume_yes:
            earlier = (
                "" if cluster.stanza == running else " (the database that ran before this one)"
            )
            say(
                f"this puts the {project.current.data} database back as it was at {at}{earlier}: "
                "every later change is undone (a backup of it is taken first)."
            )
            confirm(
                "database name",
                database.name,
                "confirmation did not match; nothing was changed (scripts: --yes)",
            )
        try:
            safety = database.backup("pre-restore")
        except Refused as error:
            raise Refused(
                f"the pre-restore backup failed, so nothing was restored: {error}"
            ) from None
        database.prune(keep=safety)
        services = sorted({c.service for c in _stop_writers(project)})
        started = time.monotonic()
        try:
            recovery.recover(cluster, running, moment)
        except Refused as error:
            raise Refused(f"{error}; {safety} holds the database as it was before") from None
        finally:
            if services:
                argv = project.compose.up("--no-deps", "--no-recreate", *services)
                if project.runner.run(argv, capture=False).returncode != 0:
                    project.up_failed()
        say(
            f"database {database.name} is back as it was at {at} "
            f"({time.monotonic() - started:.0f} s; {database.summary(database.name)}); "
            f"as it was before: {safety}"
        )
        return 0


def _media_to_restore(uploads: Media, archive: Path) -> tuple[media.Contents | None, str]:
    """What the media archive holds (None: media is not restored), and the
    line that says what became of the media. A file that is not a tar
    archive is refused here, before anything is touched."""
    if not archive.is_file():
        return None, f"no media archive beside it ({archive.name}): media was left as it is"
    if uploads.backend:
        return None, (
            f"STORAGE_BACKEND={uploads.backend}: uploads are in the bucket; "
            f"{archive.name} was not restored and media was left as it is"
        )
    expected = media.read_archive(archive)
    return expected, f"media: {expected.files} files restored from {archive}"
