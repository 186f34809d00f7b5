"""Point-in-time recovery's pure parts (driver/pitr.py), without Docker."""

import json
from datetime import datetime, timezone

import pytest

from driver import pitr
from driver.compose import Compose
from driver.console import Refused

INFO = json.dumps(
    [
        {
            "name": "db",
            "backup": [{"label": "F1", "timestamp": {"start": 1764400000, "stop": 1764400004}}],
        }
    ]
)


def test_a_time_is_utc_unless_it_says_otherwise():
    assert pitr.target(pitr.parse_time("2026-11-29 10:14:59")) == "2026-11-29 10:14:59.000000+00"
    assert pitr.target(pitr.parse_time("2026-11-29T11:14:59.5+01:00")) == (
        "2026-11-29 10:14:59.500000+00"
    )
    with pytest.raises(Refused, match="--time 'yesterday' is not a time"):
        pitr.parse_time("yesterday")


def test_the_earliest_moment_is_the_end_of_the_oldest_base_backup():
    assert pitr.earliest(INFO) == datetime.fromtimestamp(1764400004, timezone.utc)
    assert pitr.earliest(json.dumps([{"name": "db", "backup": []}])) is None
    assert pitr.earliest("") is None and pitr.earliest("not json") is None


def test_the_restore_runs_pgbackrest_in_a_one_off_db_as_the_datas_owner():
    argv = pitr.restore_argv(Compose(("compose.yml",)), "2026-11-29 10:14:59.000000+00")
    assert argv[argv.index("run") :][:8] == [
        "run", "--rm", "--no-deps", "-T", "--user", "postgres", "--entrypoint", "pgbackrest",
    ]  # fmt: skip
    assert argv[-5:] == [
        "--delta", "--type=time", "--target=2026-11-29 10:14:59.000000+00",
        "--target-action=promote", "restore",
    ]  # fmt: skip
