"""Scheduled backups (compose.yml's backup service, driver/scheduled.py) on a
production stack of its own, with a short schedule: they fire, retention
holds for the dumps, their media archives and the WAL archive's base
backups, and a failed one is loud (the service's health, `status`, the next
`sh run.sh -0`)."""

import json
import time

import pytest

from tools.throwaway import production_settings

pytestmark = pytest.mark.e2e

EVERY = 15  # seconds: BACKUP_SCHEDULE=every 15s
STATUS = ".prod-app-scheduled.json"


@pytest.fixture(scope="module")
def site(own_stack):
    own_stack.write_env(
        **production_settings(
            BACKUP_SCHEDULE=f"every {EVERY}s", BACKUP_KEEP="2", PITR_BASE_BACKUPS_KEEP="1"
        )
    )
    own_stack.run_sh("-0")
    return own_stack


def backups(site) -> list[str]:
    return sorted(p.name for p in (site.root / "backups").glob("prod-app-*"))


def status(site) -> dict:
    path = site.root / "backups" / STATUS
    return json.loads(path.read_text()) if path.exists() else {}


def wait_for(predicate, what: str, limit: float = 12 * EVERY) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(1)
    raise AssertionError(f"not within {limit:.0f} s: {what}")


def health(site, service: str) -> str:
    return site.inspect("prod", service)["State"]["Health"]["Status"]


def test_backups_fire_on_schedule_and_retention_holds(site):
    seen: set[str] = set()

    def three_runs() -> bool:
        last = status(site).get("last_at")
        if last:
            seen.add(last)
        return len(seen) >= 3

    wait_for(three_runs, "three scheduled backups")
    wait_for(lambda: status(site).get("ok") is True, "a scheduled backup that succeeded")
    dumps = [name for name in backups(site) if name.endswith("-scheduled.dump")]
    assert len(dumps) == 2, backups(site)  # BACKUP_KEEP=2
    for dump in dumps:  # each with its uploads, owned like sh run.sh backup's files
        archive = site.root / "backups" / dump.replace(".dump", ".media.tar")
        assert archive.exists()
        assert archive.stat().st_uid == (site.root / "backups").stat().st_uid
    listing = site.compose(
        "prod", "exec", "-T", "backup", "pg_restore", "--list", f"/backups/{dumps[-1]}"
    )
    assert "TABLE DATA public catalog_item" in listing.stdout
    info = site.compose(
        "prod", "exec", "-T", "--user", "postgres", "db", "pgbackrest", "info", "--output=json"
    )
    (stanza,) = json.loads(info.stdout)
    assert len(stanza["backup"]) == 1  # PITR_BASE_BACKUPS_KEEP=1, older ones expired
    assert stanza["backup"][0]["timestamp"]["stop"] > time.time() - 3 * EVERY
    assert health(site, "backup") == "healthy"
    assert "the last one succeeded" in site.run_sh("-0", "status").stderr


def test_a_failed_backup_is_loud_until_one_succeeds(site):
    site.compose("prod", "stop", "db")  # the database goes away
    wait_for(lambda: status(site).get("ok") is False, "a failed scheduled backup")
    assert "pg_dump failed" in status(site)["error"]
    wait_for(lambda: health(site, "backup") == "unhealthy", "backup unhealthy", limit=30)
    assert "the last one FAILED at" in site.run_sh("-0", "status").stderr
    doctor = site.run_sh("-0", "doctor", check=False)
    assert doctor.returncode == 1 and "✗ scheduled backups: the last one FAILED" in doctor.stdout

    deploy = site.run_sh("-0")  # starts db again, and says what went wrong
    assert "warning: scheduled backups: the last one FAILED" in deploy.stderr
    wait_for(lambda: status(site).get("ok") is True, "a scheduled backup that succeeded")
    wait_for(lambda: health(site, "backup") == "healthy", "backup healthy again", limit=30)


def test_verify_restores_the_newest_backup_into_scratch_and_compares(site):
    site.psql(
        "prod",
        "INSERT INTO catalog_item (name, description, created_at) "
        "SELECT 'verified ' || n, repeat('x', n % 50), now() FROM generate_series(1, 500) n",
    )
    site.run_sh("-0", "backup")
    result = site.run_sh("-0", "backup", "--verify")
    assert "every count and checksum matches" in result.stderr
    assert "a whole tar archive" in result.stderr
    scratch = site.psql("prod", "SELECT count(*) FROM pg_database WHERE datname LIKE '%verify%'")
    assert scratch == "0"  # dropped afterwards

    # A damaged copy: its list of tables reads, its data does not.
    newest = max((site.root / "backups").glob("prod-app-*Z.dump"))
    data = newest.read_bytes()
    (site.root / "backups" / "damaged.dump").write_bytes(data[: len(data) * 2 // 3])
    damaged = site.run_sh("-0", "backup", "--verify", "backups/damaged.dump", check=False)
    assert damaged.returncode == 1
    assert "damaged.dump" in damaged.stderr.splitlines()[-1]
