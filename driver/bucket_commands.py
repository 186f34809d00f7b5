"""The bucket of BACKUP_S3_BUCKET from the host: ``sh run.sh backup``,
``backup --list-bucket`` and ``restore --from-bucket`` or
``--archive-from-bucket`` run driver/scheduled.py's upload, list, fetch and
fetch-archive in one-off containers of the backup service (its settings,
BACKUP_DIR, rclone and age: driver/bucket.py)."""

from __future__ import annotations

from pathlib import Path

from driver import offsite, wal_offsite
from driver.console import Refused
from driver.database import Database
from driver.project import Project


def configured(project: Project) -> bool:
    return bool(project.settings.backup.get("BACKUP_S3_BUCKET", "").strip())


def require(project: Project) -> None:
    if not configured(project):
        raise Refused(
            f"BACKUP_S3_BUCKET is not set in {project.settings.env_label}: no copies off the "
            "host (README, Backups and restore)"
        )


def in_backup_service(project: Project, *args: str, volumes: tuple[str, ...] = ()) -> bool:
    """``python3 -m driver.scheduled ARGS`` in a one-off container of the
    backup service: its settings, BACKUP_DIR and tools."""
    argv = project.compose.one_off(
        "backup", "python3", "-m", "driver.scheduled", *args, volumes=volumes
    )
    return project.runner.run(argv, capture=False).ok


def _identity(project: Project, identity: str) -> tuple[str, ...]:
    """The mount of --identity FILE for a one-off backup container."""
    if not identity:
        return ()
    key = (project.caller_dir / identity).resolve()
    if not key.is_file():
        raise Refused(f"no such age identity file: {key}")
    return (f"{key}:{offsite.IDENTITY}:ro",)


def fetch(project: Project, name: str, identity: str) -> Path:
    """restore --from-bucket: backup ``name`` (and its media archive) from
    the bucket into BACKUP_DIR, decrypted with ``identity``; its path."""
    project.prepare_existing()
    require(project)
    volumes = _identity(project, identity)
    directory = Database(project).backup_dir
    directory.mkdir(parents=True, exist_ok=True)
    if not in_backup_service(project, "fetch", name, volumes=volumes):
        raise Refused("the download from the bucket failed (above); nothing was changed")
    return directory / name


def fetch_archive(project: Project, identity: str) -> None:
    """restore --archive-from-bucket: the WAL archives the bucket holds and
    the archive volume lacks, into it (wal_offsite.py), decrypted with
    ``identity``."""
    project.prepare_existing()
    require(project)
    volume = f"{project.settings.project}_db-{project.current.data}-wal"
    mounts = (f"{volume}:{wal_offsite.FETCH_MOUNT}", *_identity(project, identity))
    if not in_backup_service(project, "fetch-archive", wal_offsite.FETCH_MOUNT, volumes=mounts):
        raise Refused(
            "the WAL archive's download from the bucket failed (above); nothing was changed"
        )
