"""The bucket of BACKUP_S3_BUCKET, in the backup container: offsite.py's
command lines (rclone, age) run, the dump streamed through age into rclone
when a recipient is set, never a copy in /tmp. scheduled.py calls it after
each scheduled backup, and for sh run.sh's upload, list and fetch; and
ArchiveCopy keeps the WAL archive's copy there (wal_offsite.py)."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

from driver import media, offsite, wal_offsite

BACKUP_DIR = Path("/backups")  # the service's mount of BACKUP_DIR


def secret(env: dict[str, str], name: str) -> str:
    """A setting, or the content of the file its NAME_FILE names (Swarm's secrets)."""
    secret = env.get(f"{name}_FILE", "")
    return Path(secret).read_text().strip() if secret else env.get(name, "")


def give(directory: Path, path: Path) -> None:
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
        self.env = {**env, **offsite.rclone_env(env, secret(env, "BACKUP_S3_SECRET_ACCESS_KEY"))}

    def run(self, argv: list[str]) -> str:
        """rclone's (or age's) output; RuntimeError when it fails."""
        done = subprocess.run(argv, check=False, capture_output=True, env=self.env)
        if done.returncode:
            raise RuntimeError(_failure(argv, done.stderr, done.returncode))
        return done.stdout.decode(errors="replace")

    def objects(self) -> list[str]:
        assert self.target is not None
        return self.run(offsite.list_argv(self.target)).splitlines()

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
            name = self.send(path, path.name)
            print(f"uploaded {target.shown(name)}")

    def send(self, path: Path, name: str) -> str:
        """The file as object ``name`` (``name.age``, through age, when a
        recipient is set: streamed, never a copy in /tmp); the object's name."""
        target = self.target
        assert target is not None
        name = target.object_name(name)
        if target.recipient:
            with open(path, "rb") as source:
                _pipe(
                    offsite.encrypt_argv(target.recipient), offsite.upload_argv(target, name),
                    source.fileno(), subprocess.DEVNULL, self.env,
                )  # fmt: skip
        else:
            self.run(offsite.upload_argv(target, name, str(path)))
        return name

    def prune(self, prefix: str, keep: int) -> None:
        """BACKUP_KEEP in the bucket: local retention's rule."""
        assert self.target is not None
        for name in offsite.to_delete(self.objects(), prefix, keep):
            self.run(offsite.delete_argv(self.target, name))
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
            give(self.directory, partial)
            partial.rename(path)
            print(f"downloaded {target.shown(remote)} into BACKUP_DIR as {local}")


class ArchiveCopy:
    """The WAL archive's copy in the bucket (wal_offsite.py), from the
    archive volume mounted at ``root``: ``sync`` in the service's loop,
    ``fetch`` in a one-off container with the volume writable."""

    def __init__(self, bucket: Offsite, root: Path):
        assert bucket.target is not None
        self.bucket = bucket
        self.target = bucket.target
        self.root = root
        self.remote: set[str] | None = None  # the folder's objects; None: list them again
        self.sent: dict[str, wal_offsite.Signature] = {}  # the .info files, as uploaded
        self.before: set[str] = set()  # the volume's files at the last sync that worked

    def local(self) -> dict[str, wal_offsite.Signature]:
        """The volume's files under archive/ and backup/ (symbolic links,
        such as backup/STANZA/latest, are left out); OSError when a folder
        cannot be read, rather than its files counted as expired."""

        def unreadable(error: OSError) -> None:
            raise error

        found = {}
        for top in wal_offsite.TOPS:
            if not (self.root / top).is_dir():  # no stanza yet
                continue
            for folder, _, files in os.walk(self.root / top, onerror=unreadable):
                for name in files:
                    path = Path(folder) / name
                    try:
                        info = path.lstat()
                    except FileNotFoundError:  # expired meanwhile
                        continue
                    if stat.S_ISREG(info.st_mode):
                        found[str(path.relative_to(self.root))] = (info.st_size, info.st_mtime_ns)
        return found

    def _run_listed(self, lines: list[str], argv: Callable[[str], list[str]]) -> None:
        """rclone with ``--files-from-raw`` a file of ``lines`` (in /tmp, removed after)."""
        descriptor, listing = tempfile.mkstemp(prefix="wal-", suffix=".list")
        try:
            with os.fdopen(descriptor, "w") as out:
                out.write("".join(f"{line}\n" for line in lines))
            self.bucket.run(argv(listing))
        finally:
            os.unlink(listing)

    def _objects(self) -> set[str]:
        return set(self.bucket.run(wal_offsite.list_argv(self.target)).splitlines())

    def sync(self) -> int:
        """Upload what the volume has and the bucket not, delete what
        pgBackRest expired; the number of files uploaded. On any failure
        RuntimeError (or OSError), and the next call lists the bucket again."""
        try:
            if self.remote is None:
                self.remote = self._objects()
            local = self.local()
            plan = wal_offsite.sync_plan(local, self.remote, self.sent, self.before)
            self._upload(plan.uploads)
            for path in plan.uploads:
                if wal_offsite.is_info(path):
                    self.sent[path] = local[path]
                self.remote.add(self.target.object_name(path))
            if plan.deletes:
                self._run_listed(plan.deletes, partial(wal_offsite.delete_argv, self.target))
                self.remote -= set(plan.deletes)
            self.before = set(local)
            return len(plan.uploads)
        except BaseException:
            self.remote = None
            raise

    def _upload(self, paths: list[str]) -> None:
        if self.target.recipient:  # each through age on its way, in order
            for path in paths:
                self.bucket.send(self.root / path, f"{wal_offsite.FOLDER}/{path}")
            return
        up = partial(wal_offsite.copy_argv, str(self.root), wal_offsite.folder(self.target))
        for batch in wal_offsite.batches(paths):  # one rclone run a group
            self._run_listed(batch, up)

    def fetch(self) -> list[str]:
        """The stanzas the bucket holds and the volume does not, downloaded
        (and decrypted with the identity at offsite.IDENTITY) into a staging
        folder of the volume, given the volume's owner, then moved into
        place, archive.info last; the stanzas fetched."""
        try:
            objects = wal_offsite.fetch_plan(self._objects(), self.local())
        except ValueError as error:
            raise RuntimeError(str(error)) from None
        stanzas = sorted({wal_offsite.stanza_of(offsite.plain(o)) for o in objects})
        if not stanzas:
            return []
        encrypted = any(o.endswith(offsite.AGE_SUFFIX) for o in objects)
        if encrypted and not Path(offsite.IDENTITY).is_file():
            raise RuntimeError(
                "the WAL archive in the bucket is encrypted: give the age identity file "
                "(--identity FILE)"
            )
        staging = self.root / ".fetch"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        down = partial(wal_offsite.copy_argv, wal_offsite.folder(self.target), str(staging))
        self._run_listed(objects, down)
        for name in objects:
            if name.endswith(offsite.AGE_SUFFIX):
                encrypted_file = staging / name
                plain_file = staging / offsite.plain(name)
                self.bucket.run(
                    [*offsite.decrypt_argv(), "--output", str(plain_file), str(encrypted_file)]
                )
                encrypted_file.unlink()
        for top in wal_offsite.TOPS:
            (self.root / top).mkdir(mode=0o750, exist_ok=True)
            give(self.root, self.root / top)
        for folder, dirs, files in os.walk(staging):
            for entry in dirs + files:
                path = Path(folder) / entry
                path.chmod(0o750 if path.is_dir() else 0o640)  # first: no FOWNER after chown
                give(self.root, path)
        for top in ("backup", "archive"):  # archive.info last: the stanza whole only then
            for stanza in stanzas:
                (staging / top / stanza).rename(self.root / top / stanza)
        shutil.rmtree(staging)
        return stanzas
