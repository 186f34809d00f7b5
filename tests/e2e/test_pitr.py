"""Point-in-time recovery (sh run.sh -0 restore --time), on a production
stack of its own: the drill. Rows are written one a time, each committed,
a moment is noted between two of them, a mistake drops the table, and the
restore to that moment brings back every row committed before it and none
after it."""

import json
import subprocess
import time

import pytest

from tools.throwaway import production_settings

pytestmark = pytest.mark.e2e

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
    own_stack.write_env(**production_settings(WAL_ARCHIVE_TIMEOUT="5"))
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
    # The last row committed, and a moment 0.1 s after it: inside the 0.2 s
    # the writer sleeps, so every later row is committed after the moment.
    last, moment = site.psql(
        "prod",
        "SELECT max(id), to_char((max(at) + interval '0.1 s') AT TIME ZONE 'UTC', "
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
