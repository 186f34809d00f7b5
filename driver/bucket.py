"""The bucket of BACKUP_S3_BUCKET, in the backup container: offsite.py's
command lines (rclone, age) run, the dump streamed through age into rclone
when a recipient is set, never a copy in /tmp. scheduled.py calls it after
each scheduled backup, and for sh run.sh's upload, list and fetch."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from driver import media, offsite

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
            give(self.directory, partial)
            partial.rename(path)
            print(f"downloaded {target.shown(remote)} into BACKUP_DIR as {local}")
