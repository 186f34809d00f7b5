"""Point-in-time recovery (sh run.sh -0 restore --time), on a production
stack of its own.

The drill: rows are written one a time, each committed, a moment is noted
between two of them, a mistake drops the table, and the restore to that
moment brings back every row committed before it and none after it.

The lost volume: the data volume is destroyed at a random moment while the
load client writes rows through the site, and ``restore --time latest``
brings back from the archive every row acknowledged more than the archive
timeout before the loss.
"""

import json
import random
import subprocess
import time

import pytest

from tools import traffic
from tools.throwaway import THROUGH_PROXY, production_settings

pytestmark = pytest.mark.e2e

ARCHIVE_TIMEOUT = 5  # WAL_ARCHIVE_TIMEOUT here: the recovery point's bound
# Beyond it: the archiver's own wait and pgBackRest's push of the last
# segment, on a machine busy with the load client (bounded, not timed).
ARCHIVE_SLACK = 5

WRITER = """
CREATE TABLE drill (id serial PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE PROCEDURE drill_writer(n int) LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN 1..n LOOP
    INSERT INTO drill DEFAULT VALUES;
    COMMIT;
    PERFORM pg_sleep(0.2);
  END LOOP;
END $$;
"""


@pytest.fixture(scope="module")
def site(own_stack):
    own_stack.write_env(**production_settings(WAL_ARCHIVE_TIMEOUT=str(ARCHIVE_TIMEOUT)))
    traffic.install_views(own_stack)
    own_stack.run_sh("-0")
    return own_stack


def pgbackrest_info(site) -> list:
    argv = ["exec", "-T", "--user", "postgres", "db", "pgbackrest", "info", "--output=json"]
    return json.loads(site.compose("prod", *argv).stdout)


def test_a_deploy_archives_the_wal_from_a_first_base_backup(site):
    (stanza,) = pgbackrest_info(site)
    # The cluster's own archive, named after its system identifier.
    assert stanza["name"].startswith("db-") and stanza["status"]["message"] == "ok"
    assert len(stanza["backup"]) == 1
    assert stanza["archive"][0]["max"]  # segments have reached the archive


def test_the_drill_every_row_before_the_moment_and_none_after(site):
    site.psql("prod", WRITER)
    writer = subprocess.Popen(
        site.compose_command("prod", "exec", "-T", "db", "psql", "-U", "app", "-d", "app",
                             "-c", "CALL drill_writer(60)"),
        cwd=site.root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    time.sleep(5)
    # The last row committed, and this moment: the row is visible, so it
    # committed before the moment; the next one commits after it (the
    # writer sleeps 0.2 s between rows, the query takes microseconds).
    last, moment = site.psql(
        "prod",
        "SELECT max(id), to_char(clock_timestamp() AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD HH24:MI:SS.US') FROM drill",
    ).split("|")
    assert writer.wait(timeout=60) == 0, writer.stderr.read() if writer.stderr else ""
    total = int(site.psql("prod", "SELECT count(*) FROM drill"))
    assert total == 60 > int(last) > 0
    site.psql("prod", "DROP TABLE drill")  # the mistake

    result = site.run_sh("-0", "restore", "--time", moment, "--yes")
    assert "is back as it was at" in result.stderr
    ids = site.psql("prod", "SELECT string_agg(id::text, ',' ORDER BY id) FROM drill")
    assert ids == ",".join(str(n) for n in range(1, int(last) + 1))
    # The site serves on the recovered database, and writes go on.
    site.psql("prod", "INSERT INTO drill DEFAULT VALUES")
    assert site.run_sh("-0", "ps").returncode == 0


def test_a_moment_before_the_archive_is_refused_with_nothing_changed(site):
    result = site.run_sh("-0", "restore", "--time", "2001-01-01 00:00:00", "--yes", check=False)
    assert result.returncode == 1
    assert "is before the oldest base backup" in result.stderr
    assert site.psql("prod", "SELECT count(*) > 0 FROM drill") == "t"


def test_a_lost_data_volume_comes_back_from_the_archive(site):
    db = site.find_container("prod", "db")
    assert db is not None
    with traffic.traffic(
        site.url("prod", ""), headers=THROUGH_PROXY, connections=4, slow_share=0.0
    ) as load:
        time.sleep(8 + random.uniform(0, ARCHIVE_TIMEOUT))  # a random point in the cycle
        lost_at = time.monotonic()
        subprocess.run(["docker", "rm", "-f", db["Id"]], check=True, capture_output=True)
    volume = f"{site.project}_db-prod-data"
    subprocess.run(["docker", "volume", "rm", volume], check=True, capture_output=True)
    counts = load.counts
    acknowledged = [
        (name, at)
        for name, at in zip(counts.acknowledged, counts.acknowledged_at, strict=True)
        if at < lost_at
    ]
    assert len(acknowledged) > 50, counts.summary()

    result = site.run_sh("-0", "restore", "--time", "latest", "--yes")
    assert "back as it was at the end of its archive" in result.stderr
    names = "','".join(name for name, _ in acknowledged)
    stored = site.psql(
        "prod", f"SELECT string_agg(name, ',') FROM catalog_item WHERE name IN ('{names}')"
    )
    back = set(stored.split(",")) if stored else set()
    missing = [lost_at - at for name, at in acknowledged if name not in back]
    assert back, "no acknowledged row came back"
    last_back = min(lost_at - at for name, at in acknowledged if name in back)
    print(
        f"lost volume: {len(acknowledged)} rows acknowledged, {len(missing)} lost; "
        f"the last one back was acknowledged {last_back:.1f} s before the loss "
        f"(WAL_ARCHIVE_TIMEOUT={ARCHIVE_TIMEOUT})"
    )
    assert all(age <= ARCHIVE_TIMEOUT + ARCHIVE_SLACK for age in missing), sorted(missing)[-5:]
    # Writes go on, archived on the recovered cluster's own stanza; the one
    # the empty volume had started stays beside it.
    site.psql("prod", "CREATE TABLE after_loss (id int); INSERT INTO after_loss VALUES (1)")
    argv = ["exec", "-T", "--user", "postgres", "db", "pgbackrest-pitr", "stanza"]
    running = site.compose("prod", *argv).stdout.strip()
    stanzas = {stanza["name"]: stanza for stanza in pgbackrest_info(site)}
    assert len(stanzas) == 2 and stanzas[running]["status"]["message"] == "ok"
    assert stanzas[running]["backup"]  # the base backups from before the loss
