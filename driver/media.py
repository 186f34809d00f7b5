"""Uploads (MEDIA_ROOT) in backups: the media archive beside a database dump,
and its verified restore. Command lines and scripts are built here (pure);
``Media`` runs them through the project's runner.

With filesystem media a backup is a pair of one stem, ``<mode>-<db>-<time>.dump``
and ``<mode>-<db>-<time>.media.tar``: an uncompressed tar of the mode's media
volume (uploads are mostly compressed already), taken with the web image in a
one-off container right after the dump, so it holds every file the dump's rows
name unless one was deleted in between. A restore extracts it into a staging
directory inside the volume, checks the files and bytes it got against the
archive, and only then swaps it in: a failure before the swap leaves the
current media untouched. With object storage (``STORAGE_BACKEND`` other than
``filesystem``) the uploads are in the bucket and no archive is taken.
"""

from __future__ import annotations

import os
import shlex
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from driver.compose import Compose
from driver.console import Refused, say, size_text
from driver.runner import Argv, Done
from driver.settings import FILESYSTEM

if TYPE_CHECKING:  # the backup service imports this module without the rest (scheduled.py)
    from driver.project import Project

MEDIA_ROOT = "/srv/media"  # MEDIA_ROOT of the web image (docker/Dockerfile)
SERVICE = "web"  # its image and the mode's media volume
STAGING, REPLACED = ".restoring", ".replaced"  # inside the volume, never archived
# Where uploads in flight are spooled (FILE_UPLOAD_TEMP_DIR, docker/Dockerfile):
# never archived either; web makes it again at its start.
SPOOL = ".uploads"
DUMP_SUFFIX, MEDIA_SUFFIX = ".dump", ".media.tar"
INTERRUPTED = 3  # the staging script's exit status when REPLACED is left over
# The swap script's exit status at each of its steps (swap_failure says
# where each leaves the trees).
SWAP_UNMOVED, SWAP_ASIDE, SWAP_IN, SWAP_STAGING_LEFT, SWAP_REPLACED_LEFT = 10, 11, 12, 13, 14
# GNU tar's exit status when a file changed or went while it read it (a site
# in use); the archive is whole, and read back by read_archive like any.
TAR_CHANGED = 1


@dataclass(frozen=True)
class Contents:
    """What a media tree holds: its regular files and their bytes."""

    files: int
    size: int


def archive_name(dump_name: str) -> str:
    """The media archive paired with a dump: the dump's stem, ``.media.tar``."""
    return dump_name.removesuffix(DUMP_SUFFIX) + MEDIA_SUFFIX


def archive_path(dump: Path) -> Path:
    return dump.with_name(archive_name(dump.name))


# -- command lines and scripts (pure) -----------------------------------------------


def tar_args(root: str = MEDIA_ROOT) -> list[str]:
    """tar's arguments for an archive of the media tree to stdout, without the
    restore's own directories and the spool of uploads in flight. An upload
    written or deleted meanwhile is no warning (see archived). The scheduled
    backups run the same (scheduled.py)."""
    excluded = [f"--exclude=./{name}" for name in (STAGING, REPLACED, SPOOL)]
    return [
        "-cf", "-", "--warning=no-file-changed", "--warning=no-file-removed",
        "-C", root, "--anchored", *excluded, ".",
    ]  # fmt: skip


def archive_argv(compose: Compose, root: str = MEDIA_ROOT) -> Argv:
    """tar_args in a one-off container of the web image, on the mode's volume."""
    return compose.one_off(SERVICE, *tar_args(root), entrypoint="tar")


def archived(returncode: int) -> bool:
    """Did archive_argv write a whole archive? 0, or TAR_CHANGED when an upload
    changed or was removed while tar read it; 2 or more is a failure."""
    return returncode in (0, TAR_CHANGED)


def stage_script(root: str = MEDIA_ROOT) -> str:
    """Extract the tar on stdin into ``root/.restoring`` (anew) and print the
    size of each regular file extracted, one a line. Exits INTERRUPTED, having
    changed nothing, when an interrupted swap left ``.replaced`` behind."""
    return "\n".join([
        "set -eu",
        f"cd {shlex.quote(root)}",
        f"if [ -e {REPLACED} ] || [ -L {REPLACED} ]; then exit {INTERRUPTED}; fi",
        f"rm -rf {STAGING}",
        f"mkdir {STAGING}",
        f"if ! tar -C {STAGING} -xf -; then rm -rf {STAGING}; exit 1; fi",
        f"find {STAGING} -type f -printf '%s\\n'",
    ])  # fmt: skip


def _each_entry(command: str, skip: tuple[str, ...] = (), status: int = 1) -> list[str]:
    """Lines of POSIX sh running ``command "$entry"`` for every entry of the
    current directory, dot files included, but ``skip``; exit ``status`` on
    the first failure."""
    lines = ["for entry in * .[!.]* ..?*; do"]
    if skip:
        lines.append(f"  case $entry in {'|'.join(skip)}) continue ;; esac")
    lines += [
        f'  if [ -e "$entry" ] || [ -L "$entry" ]; then {command} "$entry" || exit {status}; fi',
        "done",
    ]
    return lines


def swap_script(root: str = MEDIA_ROOT) -> str:
    """Move the current entries of ``root`` into ``.replaced``, the staged ones
    in, then remove ``.replaced``: renames within one volume. Each step exits
    with its own status (SWAP_*) when it fails."""
    return "\n".join([
        "set -eu",
        f"cd {shlex.quote(root)} || exit {SWAP_UNMOVED}",
        f"mkdir {REPLACED} || exit {SWAP_UNMOVED}",
        *_each_entry(f"mv -t {REPLACED} --", skip=(STAGING, REPLACED), status=SWAP_ASIDE),
        f"cd {STAGING} || exit {SWAP_IN}",
        *_each_entry("mv -t .. --", status=SWAP_IN),
        f"cd .. || exit {SWAP_STAGING_LEFT}",
        f"rmdir {STAGING} || exit {SWAP_STAGING_LEFT}",
        f"rm -rf {REPLACED} || exit {SWAP_REPLACED_LEFT}",
    ])  # fmt: skip


def swap_failure(returncode: int, root: str = MEDIA_ROOT) -> str:
    """Where a failed swap left the trees, by the step it stopped at."""
    replaced, staging = f"{root}/{REPLACED}", f"{root}/{STAGING}"
    next_restore = f"the next media restore refuses while {replaced} exists"
    return {
        SWAP_UNMOVED: (
            f"the media swap failed before moving anything: the media are as they were and "
            f"{staging} holds the restored files; move its entries into place, or delete it"
        ),
        SWAP_ASIDE: (
            f"the media swap failed while moving the current media aside: {replaced} holds "
            f"part of them, the rest is in place, and {staging} holds the restored files; "
            "move them into place by hand"
        ),
        SWAP_IN: (
            f"the media swap failed while moving the restored files in: {replaced} holds the "
            f"media that were there, and the restored files are partly in place, the rest in "
            f"{staging}; move those into place, then delete {replaced} ({next_restore})"
        ),
        SWAP_STAGING_LEFT: (
            f"the restored files are in place, but {staging} could not be removed and "
            f"{replaced} still holds the media that were there; check and delete both "
            f"({next_restore})"
        ),
        SWAP_REPLACED_LEFT: (
            f"the restored media are in place; only deleting the media they replaced, "
            f"{replaced}, failed: delete it ({next_restore})"
        ),
    }.get(
        returncode,
        f"the media swap failed (exit {returncode}): {replaced} may hold the media that were "
        f"there and {staging} the restored files; check both and move them into place by hand",
    )


def stage_argv(compose: Compose, root: str = MEDIA_ROOT) -> Argv:
    return compose.one_off(SERVICE, "-c", stage_script(root), entrypoint="sh")


def swap_argv(compose: Compose, root: str = MEDIA_ROOT) -> Argv:
    return compose.one_off(SERVICE, "-c", swap_script(root), entrypoint="sh")


def discard_argv(compose: Compose, root: str = MEDIA_ROOT) -> Argv:
    return compose.one_off(SERVICE, "-rf", f"{root}/{STAGING}", entrypoint="rm")


# -- archives and what was extracted (pure) ------------------------------------------


def _special(member: tarfile.TarInfo) -> str:
    """What a member that is no directory, regular file or hard link is."""
    if member.issym():
        return "a symbolic link"
    if member.ischr() or member.isblk():
        return "a device"
    return "a FIFO" if member.isfifo() else "a special file"


def read_archive(path: Path) -> Contents:
    """The regular files (hard links count as the file they name) and bytes
    of an uncompressed tar, read on the host. Refused when the file is not
    one, names a path outside the tree or the restore's own directories, or
    holds anything but directories, regular files and hard links to its own
    files: a symbolic link (or a device, a FIFO) is never extracted."""
    sizes: dict[str, int] = {}
    files = size = 0
    not_ours = "it is not a media archive of run.sh (nothing was changed)"
    try:
        with tarfile.open(path, "r:") as archive:
            for member in archive:
                name = PurePosixPath(member.name)  # ./a/b: parts a, b
                top = name.parts[0] if name.parts else ""
                if name.is_absolute() or ".." in name.parts or top in (STAGING, REPLACED):
                    raise Refused(
                        f"{path} names {member.name!r}, outside the media tree; {not_ours}"
                    )
                if member.isreg():
                    sizes[str(name)] = member.size
                    files, size = files + 1, size + member.size
                elif member.islnk():
                    target = str(PurePosixPath(member.linkname))
                    if target not in sizes:  # GNU tar archives a file before its links
                        raise Refused(
                            f"{path} holds {member.name!r}, a hard link to {member.linkname!r}, "
                            f"which names no earlier file of the archive; {not_ours}"
                        )
                    files, size = files + 1, size + sizes[target]
                elif not member.isdir():
                    raise Refused(
                        f"{path} holds {member.name!r}, {_special(member)}: a media archive "
                        f"holds only directories, files and hard links; {not_ours}"
                    )
    except (tarfile.TarError, OSError) as error:
        raise Refused(
            f"{path} is not a complete tar archive ({error}); sh run.sh backup writes one beside "
            "each dump. Nothing was changed"
        ) from None
    return Contents(files, size)


def extracted(listing: str) -> Contents:
    """Contents from the staging script's output: one size a line."""
    sizes = [int(line) for line in listing.split() if line.isdigit()]
    return Contents(len(sizes), sum(sizes))


def mismatch(expected: Contents, found: Contents) -> str:
    """'' when the extracted tree holds what the archive lists; else what differs."""
    if found == expected:
        return ""
    return (
        f"{found.files} files, {found.size} bytes were extracted where the archive "
        f"holds {expected.files} files, {expected.size} bytes"
    )


# -- running them ----------------------------------------------------------------------


def show_stderr(done: Done) -> None:
    """What a container said on stderr, above the line that judges it."""
    if done.stderr.strip():
        print(done.stderr.rstrip(), file=sys.stderr)


class Media:
    """The mode's media volume, reached through one-off web containers."""

    def __init__(self, project: Project):
        self.project = project
        self.runner = project.runner

    @property
    def backend(self) -> str:
        """The object storage the uploads go to; '' for filesystem media."""
        backend = self.project.settings.storage_backend
        return "" if backend == FILESYSTEM else backend

    def backup(self, dump: Path) -> Path | None:
        """Archive the media volume beside ``dump`` (a partial file never
        carries the archive's name); None with object storage. ``dump`` not
        written: a media-only backup (restore's, with no database to dump)."""
        if self.backend:
            say(
                f"media: not copied (STORAGE_BACKEND={self.backend}: uploads are in the bucket; "
                "protect it with the provider's versioning or replication)"
            )
            return None
        path = archive_path(dump)
        partial = path.with_name(path.name + ".partial")
        lost = (
            f"{dump} holds the database without the uploads, and no older backup was removed"
            if dump.exists()
            else "no copy of the media was written"
        )
        started = time.monotonic()
        old_umask = os.umask(0o077)
        try:
            done = self.runner.run(archive_argv(self.project.compose), stdout=partial, quiet=True)
        finally:
            os.umask(old_umask)
        show_stderr(done)
        if not archived(done.returncode):
            partial.unlink(missing_ok=True)
            raise Refused(f"the media archive failed (above): {lost}")
        try:
            contents = read_archive(partial)
        except Refused as error:
            partial.unlink(missing_ok=True)
            raise Refused(f"the media archive came out unreadable ({error}): {lost}") from None
        partial.rename(path)
        if done.returncode == TAR_CHANGED:
            say("media: uploads changed or were removed while tar read them (a site in use)")
        say(
            f"media backup: {path} ({contents.files} files, {size_text(path.stat().st_size)}, "
            f"{time.monotonic() - started:.0f} s)"
        )
        return path

    def stage(self, archive: Path, expected: Contents) -> None:
        """Extract ``archive`` into the volume's staging directory and check
        it; on any failure the staging directory goes and Refused says so."""
        started = time.monotonic()
        done = self.runner.run(stage_argv(self.project.compose), stdin=archive, quiet=True)
        if done.returncode == INTERRUPTED:
            raise Refused(
                f"{MEDIA_ROOT}/{REPLACED} exists in the media volume: an earlier media restore "
                "was interrupted and it holds the media that restore replaced; move its "
                "entries back into place and delete it first. Nothing was changed"
            )
        if not done.ok:
            show_stderr(done)
        found = extracted(done.stdout)
        if done.ok and not mismatch(expected, found):
            say(
                f"media staged: {found.files} files, {size_text(found.size)} "
                f"({time.monotonic() - started:.0f} s)"
            )
            return
        self.discard()
        reason = f"extraction failed (exit {done.returncode}, above)"
        raise Refused(
            f"{archive}: {reason if not done.ok else mismatch(expected, found)}; "
            "the media and the database were not changed"
        )

    def discard(self) -> None:
        self.runner.run(discard_argv(self.project.compose), quiet=True)

    def swap(self) -> str:
        """Put the staged media in place of the current media: '', or where
        a failure left the trees (its stderr shown above)."""
        done = self.runner.run(swap_argv(self.project.compose), quiet=True)
        if done.ok:
            return ""
        show_stderr(done)
        return swap_failure(done.returncode)
