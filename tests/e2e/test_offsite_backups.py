"""Copies off the host (driver/offsite.py) on a production stack of its own,
with a SeaweedFS S3 server as the bucket (the dev overlay's s3 image, here
a service of the copy's own override file, on the project's network, its
data in a volume of its own): every backup lands in the bucket encrypted
with age; with the local backups and both volumes deleted, restore
--from-bucket brings back every row and upload; the WAL archive's copy in
the bucket, encrypted too, brings the database back after the server is
lost whole (restore --time latest --archive-from-bucket); the scheduled
backups upload too, BACKUP_KEEP holds in the bucket, and a failed upload
fails the run, as does a failing copy of the archive."""

import json
import re
import subprocess
import time

import pytest
from test_backup_media import (
    UPLOADS,
    WRITE_UPLOADS,
    in_web,
    insert_items,
    media_listing,
    rows_checksum,
)

from tools.throwaway import production_settings

pytestmark = pytest.mark.e2e

BUCKET = "backups"
S3_IMAGE = "chrislusf/seaweedfs:4.48"  # compose.dev.yml's s3
ACCESS_KEY, SECRET_KEY = "offsite-test-key", "offsite-test-secret-0123456789"
OFFSITE_SERVICE = f"""
  offsite:
    image: "{S3_IMAGE}"
    profiles: ["offsite"]
    command: ["mini", "-dir=/data", "-bucket={BUCKET}", "-s3.port=8333",
              "-master.telemetry=false", "-admin.ui=false", "-s3.port.iceberg=0",
              "-s3.port.lance=0"]
    environment:
      AWS_ACCESS_KEY_ID: "{ACCESS_KEY}"
      AWS_SECRET_ACCESS_KEY: "{SECRET_KEY}"
    healthcheck:
      test: ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1:8333/healthz && wget -q -O /dev/null http://127.0.0.1:8888/buckets/{BUCKET}/"]
      interval: "2s"
      timeout: "5s"
      retries: 60
    volumes: ["offsite-data:/data"]
volumes:
  offsite-data: {{}}
"""
EVERY = 20  # seconds: BACKUP_SCHEDULE=every 20s
ARCHIVE_TIMEOUT = 5  # seconds: WAL_ARCHIVE_TIMEOUT, and how often the archive is copied


def start_offsite(stack) -> None:
    stack.compose("prod", "--profile", "offsite", "up", "--detach", "--wait", "offsite")


@pytest.fixture(scope="module")
def site(own_stack):
    override = own_stack.root / "compose.override.yml"
    text = override.read_text() if override.exists() else "services:\n"
    assert text.rstrip().splitlines()[-1].startswith("      "), "the override ends inside services"
    override.write_text(text.rstrip() + "\n" + OFFSITE_SERVICE)
    own_stack.write_env(
        **production_settings(BACKUP_SCHEDULE="off", WAL_ARCHIVE_TIMEOUT=str(ARCHIVE_TIMEOUT))
    )
    own_stack.run_sh("-0")
    start_offsite(own_stack)
    image = f"{own_stack.project}-backup:latest"
    keys = subprocess.run(
        ["docker", "run", "--rm", image, "age-keygen"], capture_output=True, text=True, check=True
    ).stdout
    identity = key_file(own_stack)
    identity.write_text(keys)
    identity.chmod(0o600)
    found = re.search(r"^# public key: (age1\w+)$", keys, re.MULTILINE)
    assert found, keys
    own_stack.set_env(
        BACKUP_S3_BUCKET=BUCKET,
        BACKUP_S3_ENDPOINT_URL="http://offsite:8333",
        BACKUP_S3_ACCESS_KEY_ID=ACCESS_KEY,
        BACKUP_S3_SECRET_ACCESS_KEY=SECRET_KEY,
        BACKUP_AGE_RECIPIENT=found[1],
    )
    own_stack.run_sh("-0")  # the backup service takes the settings
    return own_stack


def key_file(stack):
    """The age identity: the operator's, never in the copy or on the server."""
    return stack.tmp / "backup-key.txt"


def bucket_object(stack, name: str, check: bool = True) -> bytes:
    """An object as the bucket holds it (SeaweedFS's filer serves it raw);
    b'' when it is not there and not ``check``."""
    url = f"http://127.0.0.1:8888/buckets/{BUCKET}/{stack.project}/{name}"
    argv = stack.compose_command("prod", "exec", "-T", "offsite", "wget", "-q", "-O", "-", url)
    return subprocess.run(argv, cwd=stack.root, capture_output=True, check=check).stdout


def listed(stack) -> list[str]:
    return stack.run_sh("-0", "backup", "--list-bucket").stdout.split()


def test_a_backup_lands_in_the_bucket_encrypted_and_comes_back_on_a_bare_server(site):
    assert in_web(site, "python", "-c", WRITE_UPLOADS).strip() == str(UPLOADS)
    insert_items(site, "offsite")
    files_before, rows_before = media_listing(site), rows_checksum(site)

    backup = site.run_sh("-0", "backup")
    dump = re.search(r"run\.sh: backup: \S+/(prod-app-\S+\.dump) \(", backup.stderr)
    assert dump, backup.stderr[-2000:]
    name = dump[1]
    assert f"uploaded s3://{BUCKET}/{site.project}/{name}.age" in backup.stdout
    assert listed(site)[0] == f"{name}.age"
    for suffix in (".dump.age", ".media.tar.age"):  # encrypted: no pg_dump or tar inside
        data = bucket_object(site, name.removesuffix(".dump") + suffix)
        assert data.startswith(b"age-encryption.org/v1\n"), data[:40]
        assert b"PGDMP" not in data[:4096]
    assert len(bucket_object(site, name + ".age")) > 1000

    # The disaster: the server's backups and both volumes go; the bucket stays.
    site.run_sh("-0", "down")
    for path in (site.root / "backups").iterdir():
        path.unlink()
    volumes = [f"{site.project}_media-prod-data", f"{site.project}_db-prod-data"]
    subprocess.run(["docker", "volume", "rm", *volumes], check=True, capture_output=True)
    site.run_sh("-0")
    start_offsite(site)
    assert site.psql("prod", "SELECT count(*) FROM catalog_item") == "0"

    without = site.run_sh("-0", "restore", "--from-bucket", name, "--yes", check=False)
    assert without.returncode == 1
    assert "is encrypted: give the age identity file" in without.stderr
    assert not (site.root / "backups" / name).exists()

    restore = site.run_sh(
        "-0", "restore", "--from-bucket", name, "--identity", str(key_file(site)), "--yes"
    )
    print(f"restore from the bucket: {restore.seconds:.1f} s")
    assert f"media: {UPLOADS} files restored from" in restore.stderr
    assert media_listing(site) == files_before  # byte for byte, nothing left over
    assert rows_checksum(site) == rows_before


def in_db(stack, *argv: str) -> str:
    return stack.compose("prod", "exec", "-T", "--user", "postgres", "db", *argv).stdout.strip()


def test_the_wal_archive_in_the_bucket_brings_back_a_server_lost_whole(site):
    insert_items(site, "archived")
    rows_before = rows_checksum(site)
    # The segment that holds those rows, once db has archived it (within
    # WAL_ARCHIVE_TIMEOUT), must reach the bucket within as long again.
    segment = site.psql("prod", "SELECT pg_walfile_name(pg_current_wal_lsn())")
    stanza = in_db(site, "pgbackrest-pitr", "stanza")
    deadline = time.monotonic() + 24 * ARCHIVE_TIMEOUT
    copied = b""
    while time.monotonic() < deadline and not copied:
        found = in_db(
            site, "find", f"/var/lib/pgbackrest/archive/{stanza}", "-name", f"{segment}-*"
        )
        if found:
            name = "wal/" + found.removeprefix("/var/lib/pgbackrest/") + ".age"
            copied = bucket_object(site, name, check=False)
        time.sleep(1)
    assert copied.startswith(b"age-encryption.org/v1\n"), f"{segment} not in the bucket"
    status = site.run_sh("-0", "status").stderr
    assert "WAL archive in the bucket: copied (the last new files at" in status

    # The disaster: the server goes, with its backups and every volume; the
    # bucket stays. A bare server starts a new, empty database.
    site.run_sh("-0", "down")
    for path in (site.root / "backups").iterdir():
        path.unlink()
    roles = ("media-prod-data", "db-prod-data", "db-prod-wal")
    volumes = [f"{site.project}_{role}" for role in roles]
    subprocess.run(["docker", "volume", "rm", *volumes], check=True, capture_output=True)
    site.run_sh("-0")
    start_offsite(site)
    assert site.psql("prod", "SELECT count(*) FROM catalog_item") == "0"

    argv = ("-0", "restore", "--time", "latest", "--archive-from-bucket", "--yes")
    without = site.run_sh(*argv, check=False)
    assert without.returncode == 1
    assert "the WAL archive in the bucket is encrypted: give the age identity file" in (
        without.stdout + without.stderr
    )
    restore = site.run_sh(*argv, "--identity", str(key_file(site)))
    print(f"restore --time latest from the bucket's archive: {restore.seconds:.1f} s")
    assert "fetched the WAL archive of db-" in restore.stdout
    assert rows_checksum(site) == rows_before
    # Archiving goes on, into the recovered database's archive, fetched
    # whole and owned by postgres.
    assert in_db(site, "find", "/var/lib/pgbackrest", "!", "-user", "postgres") == ""
    recovered = in_db(site, "pgbackrest-pitr", "stanza")
    assert recovered == stanza  # the lost server's database, running again
    in_db(site, "pgbackrest", f"--stanza={recovered}", "check")


def test_scheduled_backups_upload_and_the_bucket_keeps_backup_keep(site):
    site.set_env(BACKUP_SCHEDULE=f"every {EVERY}s", BACKUP_KEEP="2")
    site.run_sh("-0")
    deadline = time.monotonic() + 8 * EVERY
    while time.monotonic() < deadline:
        names = listed(site)
        if len(names) == 2 and all(n.endswith("-scheduled.dump.age") for n in names):
            break
        time.sleep(5)
    else:
        raise AssertionError(f"not two scheduled backups in the bucket: {names}")
    for name in names:
        assert bucket_object(site, name.replace(".dump.age", ".media.tar.age"))
    status = site.run_sh("-0", "status").stderr
    assert "scheduled backups: the last one succeeded" in status


def test_a_failed_upload_fails_the_scheduled_run(site):
    site.compose("prod", "stop", "offsite")  # the bucket goes away
    path = site.root / "backups" / ".prod-app-scheduled.json"
    deadline = time.monotonic() + 10 * EVERY
    while time.monotonic() < deadline:
        last = json.loads(path.read_text())
        if last["ok"] is False:
            break
        time.sleep(2)
    else:
        raise AssertionError(f"no failed scheduled run: {last}")
    assert last["error"].startswith("rclone failed"), last
    assert "the last one FAILED at" in site.run_sh("-0", "status").stderr
    # New WAL cannot reach the bucket either: the copy says so, loudly.
    insert_items(site, "unsent")
    deadline = time.monotonic() + 24 * ARCHIVE_TIMEOUT
    while time.monotonic() < deadline:
        last = json.loads(path.read_text())
        if last["archive_error"]:
            break
        time.sleep(2)
    assert last["archive_error"].startswith("rclone failed"), last
    assert "the copy FAILS: rclone failed" in site.run_sh("-0", "status").stderr
    start_offsite(site)
