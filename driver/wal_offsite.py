"""The WAL archive's copy in the bucket (pure, no Docker): which files of the
archive volume to upload, which objects to delete, which to fetch back.
The backup service runs it (bucket.ArchiveCopy) every WAL_ARCHIVE_TIMEOUT
seconds when BACKUP_S3_BUCKET is set, so that a server lost whole loses at
most about twice that timeout of acknowledged writes; ``sh run.sh -0
restore --time latest --archive-from-bucket`` fetches it back.

db archives to its own volume only (pgBackRest's one repository): a bucket
outage must never fail ``archive_command``, or the WAL piles up in the data
volume until db stops. The copy follows the volume instead:

- **Objects**: ``BUCKET/PREFIX/wal/<path in the volume>``, each file
  encrypted with age to BACKUP_AGE_RECIPIENT (``.age`` added) when it is
  set, like the dumps (offsite.py).
- **What is copied**: the archives (stanzas) that are complete in the volume
  (``archive.info``, ``backup.info`` and a finished base backup). WAL
  segments and .info files are written under a temporary name and renamed,
  so one with its name is whole; a base backup's files count once its
  manifest is written (``finished``). Each file is uploaded once, the WAL
  first; the four ``.info`` files change: uploaded when they did, after
  the files they name.
- **What is deleted** in the bucket: a file the service saw in the volume
  and pgBackRest has expired since. What the volume never held (a lost
  volume's stanza, a server rebuilt, files expired while the service was
  stopped) is never touched: it is what a recovery may need.
- **Fetching back** brings the stanzas that the bucket holds complete and
  the volume does not.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from driver.offsite import Target, plain

FOLDER = "wal"  # the objects' folder under BUCKET/PREFIX
MOUNT = "/srv/wal"  # the backup service's mount of the archive volume (read-only)
FETCH_MOUNT = "/srv/wal-fetch"  # the same volume, writable, in restore's one-off container
INFO = ("archive.info", "archive.info.copy", "backup.info", "backup.info.copy")
TOPS = ("archive", "backup")  # pgBackRest's repository: archive/<stanza>, backup/<stanza>
MANIFEST = "backup.manifest"  # a base backup's, written when it has finished
TEMPORARY = ".pgbackrest.tmp"  # an .info file or WAL segment being written

Signature = tuple[int, int]  # a local file's size and modification time (ns)
# rclone's flags, as its environment, for the copy's runs: a bucket that is
# down or whose name no longer resolves fails a run in seconds, not minutes
# of retries; the next run, WAL_ARCHIVE_TIMEOUT later, tries again, and the
# scheduled backups are not held up meanwhile.
FAIL_FAST = {
    "RCLONE_RETRIES": "1",
    "RCLONE_LOW_LEVEL_RETRIES": "1",
    "RCLONE_CONTIMEOUT": "10s",
    "RCLONE_TIMEOUT": "30s",  # a stalled transfer
}


def interval(timeout: str) -> int:
    """Seconds between copies: WAL_ARCHIVE_TIMEOUT in seconds (PostgreSQL's
    default unit; ``5s`` too); 60 when it is 0 (PostgreSQL: no timeout) or
    not a number of seconds."""
    value = timeout.strip().lower().removesuffix("s")
    return int(value) if value.isdigit() and int(value) > 0 else 60


def stanza_of(path: str) -> str:
    """The stanza a repository path belongs to ('' : none)."""
    parts = path.split("/")
    return parts[1] if len(parts) >= 3 and parts[0] in TOPS and parts[1] else ""


def is_info(path: str) -> bool:
    return path.rsplit("/", 1)[-1] in INFO


def complete(paths: Iterable[str]) -> set[str]:
    """The stanzas a recovery can start from: archive.info, backup.info and
    a finished base backup (its backup.manifest, written last) are there.
    A stanza created again on an emptied volume is not, until its first
    base backup: its bare .info files never replace the bucket's."""
    present = set(paths)
    stanzas = {stanza_of(p) for p in present} - {""}
    finished = {
        stanza_of(p) for p in present
        if p.endswith(f"/{MANIFEST}") and p.startswith("backup/") and p.count("/") == 3
    }  # fmt: skip
    return {
        s for s in stanzas & finished
        if f"archive/{s}/archive.info" in present and f"backup/{s}/backup.info" in present
    }  # fmt: skip


def group(path: str) -> int:
    """The order files land in: WAL segments (0), a base backup's files (1),
    its manifest (2), the .info files that name them (3)."""
    if is_info(path):
        return 3
    if path.endswith(f"/{MANIFEST}"):
        return 2
    return 0 if path.startswith("archive/") else 1


def finished(path: str, present: set[str]) -> bool:
    """Not a file of a base backup still being written (or aborted, to be
    resumed): pgBackRest writes those under their final names, and rewrites
    them on a resume, so a backup's files count once its manifest is there."""
    parts = path.split("/")
    if parts[0] != "backup" or len(parts) < 4 or parts[2] == "backup.history":
        return True
    return f"backup/{parts[1]}/{parts[2]}/{MANIFEST}" in present


@dataclass
class SyncPlan:
    """The uploads (paths in the volume, in ``group`` order) and the
    deletions (object names in the bucket's folder)."""

    uploads: list[str] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.uploads or self.deletes)


def sync_plan(
    local: dict[str, Signature],
    remote: Iterable[str],
    sent: dict[str, Signature],
    before: Iterable[str] = (),
) -> SyncPlan:
    """What makes the bucket's copy of the volume's complete stanzas whole.
    ``local``: the volume's files; ``remote``: the folder's objects;
    ``sent``: the .info files this service uploaded, as they were then (one
    not in it is uploaded again: it may have changed meanwhile); ``before``:
    the volume's files at the last sync. Only a file seen here and gone
    since (pgBackRest expired it) is deleted from the bucket: never one the
    volume never held (an emptied volume, another server's upload)."""
    stanzas = complete(local)
    present = set(local)
    remote_paths = {plain(o): o for o in remote}
    ours = [
        p for p in local
        if stanza_of(p) in stanzas and not p.endswith(TEMPORARY) and finished(p, present)
    ]  # fmt: skip
    uploads = [
        p for p in ours
        if p not in remote_paths or (is_info(p) and sent.get(p) != local[p])
    ]  # fmt: skip
    gone = [obj for path, obj in remote_paths.items() if path in before and path not in present]
    return SyncPlan(uploads=sorted(uploads, key=lambda p: (group(p), p)), deletes=sorted(gone))


def batches(paths: list[str]) -> list[list[str]]:
    """``paths`` (a plan's uploads) in the groups that must land one after
    another (``group``): rclone copies within a group in parallel."""
    groups: list[list[str]] = [[], [], [], []]
    for path in paths:
        groups[group(plain(path))].append(path)
    return [g for g in groups if g]


def fetch_plan(remote: Iterable[str], local: Iterable[str]) -> list[str]:
    """The objects of the stanzas the bucket holds complete and the volume
    (``local``: its files) does not hold at all; ValueError naming a stanza
    the volume holds part of."""
    objects = sorted(remote)
    have = {stanza_of(p) for p in local} - {""}
    wanted = complete(plain(o) for o in objects) - complete(local)
    clash = sorted(wanted & have)
    if clash:
        raise ValueError(
            f"the archive volume holds part of {', '.join(clash)} and the bucket all of it: "
            "nothing was fetched (pgbackrest stanza-delete it in db first)"
        )
    chosen = [o for o in objects if stanza_of(plain(o)) in wanted]
    return sorted(chosen, key=lambda o: (group(plain(o)), o))


# -- command lines ----------------------------------------------------------------------


def folder(target: Target) -> str:
    """rclone's path of the archive's folder in the bucket."""
    return target.path(f"{FOLDER}/")


def list_argv(target: Target) -> list[str]:
    return ["rclone", "lsf", "--quiet", "--recursive", "--files-only", folder(target)]


def copy_argv(source: str, destination: str, listing: str) -> list[str]:
    """The files ``listing`` names (one path a line) from ``source`` to
    ``destination`` (either may be the bucket's folder), in one rclone run."""
    return ["rclone", "copy", "--quiet", "--files-from-raw", listing, source, destination]


def delete_argv(target: Target, listing: str) -> list[str]:
    """The objects ``listing`` names (one a line), in one rclone run."""
    return ["rclone", "delete", "--quiet", "--files-from-raw", listing, folder(target)]
