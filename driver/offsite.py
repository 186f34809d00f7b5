"""Copies off the host (pure, no Docker): every backup also in an S3 bucket,
encrypted with age when a recipient is set; the command lines, object names
and the bucket's retention. The backup service runs them (scheduled.py:
after each scheduled backup, and in a one-off container for ``sh run.sh
backup``, ``backup --list-bucket`` and ``restore --from-bucket``).

The tools are the backup image's (docker/postgres/Dockerfile): rclone
(https://rclone.org) for S3, configured through its environment only
(RCLONE_CONFIG_OFFSITE_*: no config file holds the secret), and age
(https://age-encryption.org) for encryption: ``age -r RECIPIENT`` with the
operator's public key, so that the server can encrypt but never decrypt;
the identity (private key) stays with the operator and comes back only for
a restore (``--identity FILE``). An encrypted object is ``NAME.age``.

The objects are ``BUCKET/PREFIX/NAME``: the names of BACKUP_DIR, and the
same retention (database.to_prune, kept_for_media) on the names with
``.age`` stripped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from driver import media
from driver.database import BACKUP_NAME, ours, to_prune

REMOTE = "offsite"  # rclone's name for the bucket's provider
ENV_PREFIX = f"RCLONE_CONFIG_{REMOTE.upper()}_"
AGE_SUFFIX = ".age"
IDENTITY = "/run/age-identity"  # where restore --from-bucket mounts --identity FILE
RECIPIENT = re.compile(r"^age1[02-9ac-hj-np-z]{58}$")  # bech32, as age-keygen prints it
SETTINGS = (
    "BACKUP_S3_BUCKET", "BACKUP_S3_ENDPOINT_URL", "BACKUP_S3_REGION", "BACKUP_S3_ACCESS_KEY_ID",
    "BACKUP_S3_SECRET_ACCESS_KEY", "BACKUP_S3_PREFIX", "BACKUP_AGE_RECIPIENT",
)  # fmt: skip


@dataclass(frozen=True)
class Target:
    """Where the copies go: ``bucket/prefix/``, encrypted to ``recipient``
    ('' : as they are)."""

    bucket: str
    prefix: str
    recipient: str = ""

    def path(self, name: str = "") -> str:
        """rclone's path of an object (or of the folder, with no name)."""
        folder = (
            f"{REMOTE}:{self.bucket}/{self.prefix}/" if self.prefix else f"{REMOTE}:{self.bucket}/"
        )
        return folder + name

    def object_name(self, name: str) -> str:
        return name + AGE_SUFFIX if self.recipient else name

    def shown(self, name: str = "") -> str:
        """The object as messages name it: s3://bucket/prefix/name."""
        return "s3://" + self.path(name).removeprefix(f"{REMOTE}:")


def target(env: dict[str, str]) -> Target | None:
    """The bucket from the backup service's settings; None when
    BACKUP_S3_BUCKET is empty (no copies off the host). A bad value raises
    ValueError with a line that names the setting."""
    bucket = env.get("BACKUP_S3_BUCKET", "").strip()
    if not bucket:
        return None
    if "/" in bucket or ":" in bucket:
        raise ValueError(
            f"BACKUP_S3_BUCKET is the bucket's name alone (the folder is BACKUP_S3_PREFIX); "
            f"it is '{bucket}'"
        )
    prefix = env.get("BACKUP_S3_PREFIX", "").strip().strip("/")
    recipient = env.get("BACKUP_AGE_RECIPIENT", "").strip()
    if recipient and not RECIPIENT.match(recipient):
        raise ValueError(
            "BACKUP_AGE_RECIPIENT must be an age public key (age1..., what age-keygen prints "
            "as 'public key'), never the identity file's AGE-SECRET-KEY"
        )
    return Target(bucket, prefix, recipient)


def rclone_env(env: dict[str, str], secret: str) -> dict[str, str]:
    """rclone's configuration of the remote, as environment variables.
    ``secret``: BACKUP_S3_SECRET_ACCESS_KEY (read from its file on Swarm).
    No keys: rclone's own credentials (env_auth: an IAM role)."""
    endpoint = env.get("BACKUP_S3_ENDPOINT_URL", "").strip()
    region = env.get("BACKUP_S3_REGION", "").strip()
    key_id = env.get("BACKUP_S3_ACCESS_KEY_ID", "").strip()
    config = {
        "TYPE": "s3",
        "PROVIDER": "Other" if endpoint else "AWS",
        "NO_CHECK_BUCKET": "true",  # the bucket must exist: never create one
    }
    if endpoint:
        config["ENDPOINT"] = endpoint
    if region:
        config["REGION"] = region
    if key_id or secret:
        config |= {"ACCESS_KEY_ID": key_id, "SECRET_ACCESS_KEY": secret}
    else:
        config["ENV_AUTH"] = "true"
    # No config file is read or written (the root filesystem is read-only).
    return {"RCLONE_CONFIG": "", **{ENV_PREFIX + key: value for key, value in config.items()}}


# -- command lines ----------------------------------------------------------------------


def encrypt_argv(recipient: str) -> list[str]:
    return ["age", "--encrypt", "--recipient", recipient]


def decrypt_argv(identity: str = IDENTITY) -> list[str]:
    return ["age", "--decrypt", "--identity", identity]


def upload_argv(target: Target, name: str, source: str = "") -> list[str]:
    """A file as the object ``name`` (copyto), or stdin when no ``source`` (rcat)."""
    if source:
        return ["rclone", "copyto", "--quiet", source, target.path(name)]
    return ["rclone", "rcat", "--quiet", target.path(name)]


def download_argv(target: Target, name: str) -> list[str]:
    return ["rclone", "cat", "--quiet", target.path(name)]


def list_argv(target: Target) -> list[str]:
    return ["rclone", "lsf", "--quiet", "--files-only", target.path()]


def delete_argv(target: Target, name: str) -> list[str]:
    return ["rclone", "deletefile", "--quiet", target.path(name)]


# -- names ------------------------------------------------------------------------------


def plain(name: str) -> str:
    """An object's backup name: ``.age`` stripped."""
    return name.removesuffix(AGE_SUFFIX)


def check_name(name: str) -> str:
    """A backup's name as restore --from-bucket takes it (``.age`` stripped);
    ValueError when it is not one."""
    bare = plain(name)
    if "/" in bare or not BACKUP_NAME.search(bare):
        raise ValueError(
            f"restore --from-bucket takes a backup's NAME as the bucket lists it, e.g. "
            f"prod-app-20260101T000000Z.dump (sh run.sh -0 backup --list-bucket); got '{name}'"
        )
    return bare


def backups(objects: list[str], prefix: str) -> list[str]:
    """The dumps of this mode and database (``prefix``) in the bucket, by
    backup name, newest first."""
    return ours(sorted({plain(o) for o in objects}), prefix)


def find(objects: list[str], name: str) -> str:
    """The object that holds backup ``name`` (``name`` or ``name.age``), or ''."""
    for candidate in (name, name + AGE_SUFFIX):
        if candidate in objects:
            return candidate
    return ""


def to_delete(objects: list[str], prefix: str, keep: int) -> list[str]:
    """The objects beyond the newest ``keep`` backups of ``prefix``: local
    retention's rule (database.to_prune) on the backup names, each dump with
    its media archive."""
    names = sorted({plain(o) for o in objects})
    doomed = set()
    for old in to_prune(names, prefix, keep):
        doomed |= {old, media.archive_name(old)}
    return [o for o in objects if plain(o) in doomed]
