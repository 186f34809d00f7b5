"""The scheduled backups' schedule, status and retention (driver/schedule.py,
driver/scheduled.py), without Docker: the backup service's loop runs them."""

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from driver import bucket, scheduled
from driver.schedule import Schedule, Status, parse_schedule, problem, read_status, status_line

NOON = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def test_a_schedule_is_a_daily_time_an_interval_or_off():
    assert parse_schedule("03:00") == Schedule(at=(3, 0))
    assert parse_schedule(" every 6h ") == Schedule(every=6 * 3600)
    assert parse_schedule("every 30s") == Schedule(every=30)
    assert parse_schedule("OFF") is None
    for bad in ("3am", "24:00", "every 0s", "every 5 weeks", ""):
        with pytest.raises(ValueError, match="BACKUP_SCHEDULE must be HH:MM"):
            parse_schedule(bad)


def test_the_next_run_is_today_or_tomorrow_in_utc():
    assert Schedule(at=(13, 30)).next_run(NOON) == NOON.replace(hour=13, minute=30)
    assert Schedule(at=(3, 0)).next_run(NOON) == datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
    assert Schedule(at=(12, 0)).next_run(NOON) == datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    assert (Schedule(every=90).next_run(NOON) - NOON).total_seconds() == 90


def test_the_status_says_how_the_last_run_went(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(scheduled, "OWN_STATUS", tmp_path / "own.json")
    assert status_line(None) == "scheduled backups: none has run yet"
    due = Status(next_at="2026-11-30 03:00:00 UTC")
    assert status_line(due, NOON) == (
        "scheduled backups: none has run yet; next at 2026-11-30 03:00:00 UTC"
    )
    failed = Status(last_at="t1", ok=False, error="pg_dump failed: no route", next_at="t2")
    assert status_line(failed) == (
        "scheduled backups: the last one FAILED at t1: pg_dump failed: no route; next at t2"
    )
    assert problem(failed) and not problem(due, NOON) and not problem(None)
    path = tmp_path / ".prod-app-scheduled.json"
    scheduled._save(path, failed)
    assert read_status(path) == failed == read_status(tmp_path / "own.json")
    path.write_text("{not json")
    assert read_status(path) is None


def test_a_run_long_past_its_time_is_overdue():
    late = Status(last_at="t1", dump="d", next_at="2026-11-29 11:30:00 UTC")
    assert not problem(late, NOON)  # running for 30 minutes: a large dump
    assert problem(late, NOON + timedelta(hours=1))
    assert status_line(late, NOON + timedelta(hours=1)) == (
        "scheduled backups: the last one succeeded at t1 (d); the one due at "
        "2026-11-29 11:30:00 UTC is OVERDUE (sh run.sh -0 logs backup)"
    )


def test_a_backup_dir_that_takes_no_file_fails_the_status(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(scheduled, "OWN_STATUS", tmp_path / "own.json")
    scheduled._save(tmp_path / "missing" / "status.json", Status(last_at="t1", dump="d"))
    own = read_status(tmp_path / "own.json")
    assert own is not None and not own.ok and own.error.startswith("BACKUP_DIR: ")


def test_a_run_keeps_the_newest_backup_keep_with_their_media(tmp_path: Path):
    names = [
        "prod-app-20261101T030000Z-scheduled.dump",
        "prod-app-20261101T030000Z-scheduled.media.tar",
        "prod-app-20261102T030000Z-scheduled.dump",
        "prod-app-20261102T030000Z-scheduled.media.tar",
        "prod-app-20261103T030000Z-scheduled.dump",
        "prod-app-20261103T030000Z-scheduled.media.tar",
        "dev-app-20261101T030000Z.dump",  # another mode's: never touched
    ]
    for name in names:
        (tmp_path / name).write_text("x")
    run = scheduled.Run({"BACKUP_KEEP": "2", "POSTGRES_DB": "app"}, directory=tmp_path)
    run.prune()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[2:])


def test_health_is_the_last_runs_outcome(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setattr(scheduled, "BACKUP_DIR", tmp_path)
    monkeypatch.setattr(scheduled, "OWN_STATUS", tmp_path / "own.json")
    monkeypatch.setenv("POSTGRES_DB", "app")
    assert scheduled.main(["health"]) == 0  # none has run yet
    scheduled._save(tmp_path / ".prod-app-scheduled.json", Status(last_at="t", ok=False, error="e"))
    assert scheduled.main(["health"]) == 1
    assert "FAILED at t: e" in capsys.readouterr().out


def test_a_pipe_names_the_command_that_failed(tmp_path: Path):
    out = tmp_path / "out"
    with open(out, "wb") as sink:
        bucket._pipe(["echo", "data"], ["cat"], subprocess.DEVNULL, sink.fileno(), {})
    assert out.read_bytes() == b"data\n"
    with pytest.raises(RuntimeError, match="^sh failed: no bucket$"):  # age | rclone rcat
        bucket._pipe(
            ["sh", "-c", "while :; do echo x; done"],
            ["sh", "-c", "echo no bucket >&2; exit 4"],
            subprocess.DEVNULL, subprocess.DEVNULL, {},
        )  # fmt: skip
    with pytest.raises(RuntimeError, match="^false failed: exit 1$"):  # rclone cat | age
        bucket._pipe(["false"], ["cat"], subprocess.DEVNULL, subprocess.DEVNULL, {})


def test_an_upload_of_no_backup_fails_before_rclone(tmp_path: Path):
    copies = bucket.Offsite({"BACKUP_S3_BUCKET": "b"}, directory=tmp_path)
    with pytest.raises(RuntimeError, match="no prod-app-20261129T030000Z.dump in BACKUP_DIR"):
        copies.upload(tmp_path / "prod-app-20261129T030000Z.dump")
    assert bucket.Offsite({}, directory=tmp_path).target is None  # no bucket, no copies
