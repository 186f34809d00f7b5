"""Point-in-time recovery's pure parts (driver/pitr.py), without Docker."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from driver import pitr
from driver.compose import Compose
from driver.console import Refused

T0 = 1764400000  # a base backup's end, as pgBackRest reports it (epoch seconds)


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def info(*stanzas: tuple[str, list[int]]) -> str:
    """``pgbackrest info --output=json`` with these stanzas and the stops of
    their base backups."""
    return json.dumps([
        {"name": name, "backup": [{"timestamp": {"start": s - 3, "stop": s}} for s in stops]}
        for name, stops in stanzas
    ])  # fmt: skip


def test_a_time_is_utc_unless_it_says_otherwise_and_latest_is_none():
    assert pitr.target(pitr.parse_time("2026-11-29 10:14:59")) == "2026-11-29 10:14:59.000000+00"
    moment = pitr.parse_time("2026-11-29T11:14:59.5+01:00")
    assert moment is not None and pitr.target(moment) == "2026-11-29 10:14:59.500000+00"
    assert pitr.parse_time(" Latest ") is None
    with pytest.raises(Refused, match="--time 'yesterday' is not a time"):
        pitr.parse_time("yesterday")


def test_clusters_are_read_oldest_first_with_their_base_backups():
    found = pitr.clusters(info(("db-2", [T0 + 900]), ("db-1", [T0 + 200, T0]), ("db-3", [])))
    assert found == [
        pitr.Cluster("db-1", at(T0), at(T0 + 200)),
        pitr.Cluster("db-2", at(T0 + 900), at(T0 + 900)),
        pitr.Cluster("db-3", None, None),
    ]
    assert pitr.clusters("") == [] and pitr.clusters("not json") == []


def test_a_time_picks_the_running_cluster_when_it_reaches_back_that_far():
    # db-1 lost its volume; db-2 replaced it and took a base backup; db-1
    # was recovered (--time latest) and runs again: it stays the one to use.
    found = pitr.clusters(info(("db-1", [T0, T0 + 500]), ("db-2", [T0 + 900])))
    assert pitr.choose(found, "db-1", at(T0 + 1000)).stanza == "db-1"
    assert pitr.choose(found, "db-2", at(T0 + 1000)).stanza == "db-2"


def test_an_earlier_cluster_only_up_to_its_last_base_backup():
    found = pitr.clusters(info(("db-1", [T0, T0 + 500]), ("db-2", [])))
    assert pitr.choose(found, "db-2", at(T0 + 100)).stanza == "db-1"
    assert pitr.choose(found, "db-2", at(T0 + 500)).stanza == "db-1"
    with pytest.raises(Refused, match="after its last base backup .* restore --time latest"):
        pitr.choose(found, "db-2", at(T0 + 501))


def test_times_out_of_reach_are_refused():
    found = pitr.clusters(info(("db-1", [T0]), ("db-2", [T0 + 900])))
    with pytest.raises(Refused, match="is before the oldest base backup"):
        pitr.choose(found, "db-2", at(T0 - 1))
    with pytest.raises(Refused, match="is in the future"):
        pitr.choose(found, "db-2", datetime.now(UTC) + timedelta(hours=1))
    with pytest.raises(Refused, match="has no base backup yet"):
        pitr.choose(pitr.clusters(info(("db-1", []))), "db-1", at(T0))


def test_latest_picks_the_newest_cluster_but_the_running_one():
    # After a lost volume the new cluster has no base backup yet, or one.
    assert (
        pitr.choose(pitr.clusters(info(("db-1", [T0]), ("db-2", []))), "db-2", None).stanza
        == "db-1"
    )
    found = pitr.clusters(info(("db-0", [T0 - 900]), ("db-1", [T0]), ("db-2", [T0 + 900])))
    assert pitr.choose(found, "db-2", None).stanza == "db-1"
    with pytest.raises(Refused, match="holds none: give a time instead"):
        pitr.choose(pitr.clusters(info(("db-1", [T0]))), "db-1", None)


def test_archiving_that_fails_is_said():
    assert pitr.archiver_line("2026-11-29 10:00:01|f|") == (
        True,
        "WAL archive: archiving (the last segment at 2026-11-29 10:00:01 UTC)",
    )
    assert pitr.archiver_line("|f|")[1].endswith("(no segment since db started)")
    ok, line = pitr.archiver_line("2026-11-29 10:00:01|t|000000010000000000000007")
    assert not ok and line.startswith("WAL archive: FAILING (the last segment tried, 00000001")


def test_the_restore_runs_pgbackrest_in_a_one_off_db_as_the_datas_owner():
    compose = Compose(("compose.yml",))
    argv = pitr.restore_argv(compose, "db-1", at(T0))
    assert argv[argv.index("run") :][:8] == [
        "run", "--rm", "--no-deps", "-T", "--user", "postgres", "--entrypoint", "pgbackrest",
    ]  # fmt: skip
    assert argv[-6:] == [
        "--stanza=db-1", "--delta", "--type=time", "--target=2025-11-29 07:06:40.000000+00",
        "--target-action=promote", "restore",
    ]  # fmt: skip
    latest = pitr.restore_argv(compose, "db-1", None)
    assert latest[-4:] == ["--stanza=db-1", "--delta", "--type=default", "restore"]
