"""The scheduled backups' schedule and status (pure, no Docker): parsed from
BACKUP_SCHEDULE by the backup service (scheduled.py) and checked by
``sh run.sh -0``; the status file the service writes into BACKUP_DIR after
each run, read back by ``status`` and the next deploy."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

DAILY = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
EVERY = re.compile(r"^every\s+(\d+)\s*([smhd])$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
OFF = "off"


# -- the schedule (pure) -------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    """Daily at ``at`` (HH:MM, UTC), or every ``every`` seconds."""

    at: tuple[int, int] | None = None
    every: int = 0

    def next_run(self, after: datetime) -> datetime:
        if self.every:
            return after + timedelta(seconds=self.every)
        assert self.at is not None
        hour, minute = self.at
        moment = after.astimezone(timezone.utc).replace(
            hour=hour, minute=minute, second=0, microsecond=0
        )
        return moment if moment > after else moment + timedelta(days=1)


def parse_schedule(text: str) -> Schedule | None:
    """BACKUP_SCHEDULE: ``HH:MM`` (daily, UTC), ``every N`` with s, m, h or d
    (``every 6h``), or ``off`` (None). A bad value raises ValueError with the
    line that names the setting."""
    value = text.strip().lower()
    if value == OFF:
        return None
    daily = DAILY.match(value)
    if daily:
        return Schedule(at=(int(daily.group(1)), int(daily.group(2))))
    every = EVERY.match(value)
    if every and int(every.group(1)) > 0:
        return Schedule(every=int(every.group(1)) * UNIT_SECONDS[every.group(2)])
    raise ValueError(
        f"BACKUP_SCHEDULE must be HH:MM (daily, UTC), 'every N' with s, m, h or d "
        f"(e.g. 'every 6h'), or 'off'; it is '{text}'"
    )


# -- the status file ---------------------------------------------------------------------


@dataclass
class Status:
    """The last scheduled run: when, whether it succeeded, what it wrote or
    what failed; and when the next one is due. With a bucket, the WAL
    archive's copy there too: when it last took new files, or why it
    failed (wal_offsite.py)."""

    next_at: str = ""
    last_at: str = ""
    ok: bool = True
    seconds: float = 0.0
    dump: str = ""
    error: str = ""
    archive_copied_at: str = ""
    archive_error: str = ""


def status_name(data_mode: str, database: str) -> str:
    return f".{data_mode}-{database}-scheduled.json"


def read_status(path: Path) -> Status | None:
    try:
        fields = json.loads(path.read_text())
        return Status(**{k: v for k, v in fields.items() if k in Status.__dataclass_fields__})
    except (OSError, ValueError, TypeError):
        return None


STAMP = "%Y-%m-%d %H:%M:%S UTC"  # the status file's times
# How long past its time a run may still be going (a large database's dump)
# before the status calls it overdue: the service stopped, or a run hangs.
OVERDUE_AFTER = timedelta(hours=1)


def stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime(STAMP)


def overdue(status: Status, now: datetime | None = None) -> bool:
    try:
        due = datetime.strptime(status.next_at, STAMP).replace(tzinfo=timezone.utc)
    except ValueError:  # none due (BACKUP_SCHEDULE=off), or not a time
        return False
    return (now or datetime.now(timezone.utc)) > due + OVERDUE_AFTER


def problem(status: Status | None, now: datetime | None = None) -> bool:
    """Should it be loud: the last run failed, the next is long overdue, or
    the WAL archive's copy in the bucket fails."""
    return status is not None and (
        not status.ok or overdue(status, now) or bool(status.archive_error)
    )


def status_line(status: Status | None, now: datetime | None = None) -> str:
    """One line on the scheduled backups, for status, deploys and doctor."""
    if status is None:
        return "scheduled backups: none has run yet"
    due = f"; next at {status.next_at}" if status.next_at else ""
    if overdue(status, now):
        due = f"; the one due at {status.next_at} is OVERDUE (sh run.sh -0 logs backup)"
    if not status.last_at:
        return f"scheduled backups: none has run yet{due}"
    if not status.ok:
        return f"scheduled backups: the last one FAILED at {status.last_at}: {status.error}{due}"
    return f"scheduled backups: the last one succeeded at {status.last_at} ({status.dump}){due}"


def archive_copy_line(status: Status | None) -> str:
    """One line on the WAL archive's copy in the bucket ('' : none is made)."""
    if status is None or not (status.archive_copied_at or status.archive_error):
        return ""
    if status.archive_error:
        return f"WAL archive in the bucket: the copy FAILS: {status.archive_error}"
    return f"WAL archive in the bucket: copied (the last new files at {status.archive_copied_at})"


def status_lines(status: Status | None) -> list[str]:
    """status_line, and archive_copy_line when a copy is made."""
    return [line for line in (status_line(status), archive_copy_line(status)) if line]
