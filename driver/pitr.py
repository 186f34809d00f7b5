"""Point-in-time recovery: the database back as it was at a moment, from
pgBackRest's WAL archive (docker/postgres/pgbackrest-pitr.sh, compose.yml's db).

db archives every WAL segment to its own volume, in an archive of the
cluster's own (a stanza named after its system identifier): a data volume
that replaced a lost one starts a new archive beside the old one, which
stays there to be recovered. A base backup is where a recovery starts to
replay the archive from: ``sh run.sh -0`` makes sure the running cluster has
one, and the scheduled backups take one each time (scheduled.py).

``restore --time T`` picks the cluster that ran at T, the newest whose first
base backup had ended by then; ``--time latest`` picks the newest cluster but
the running one and replays its archive to its end: a lost data volume back.
The replay runs in a one-off db container on the data volume, db stopped.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from driver.compose import Compose
from driver.console import Refused, say
from driver.project import Project
from driver.runner import Argv
from driver.schedule import stamp

RECOVERY_WAIT = 600  # seconds for the replay to end
LATEST = "latest"
COMMIT_MARK_SQL = "SELECT pg_current_xact_id()"  # a transaction that writes a commit record


def pitr(compose: Compose, *args: str) -> Argv:
    """docker/postgres/pgbackrest-pitr.sh in the running db container, as the data's owner."""
    return compose("exec", "-T", "--user", "postgres", "db", "pgbackrest-pitr", *args)


def info_argv(compose: Compose) -> Argv:
    """Every cluster's archive and base backups, as JSON."""
    return compose("exec", "-T", "--user", "postgres", "db", "pgbackrest", "info", "--output=json")


def check_argv(compose: Compose, stanza: str) -> Argv:
    """Switch WAL and wait until the segment is in the archive."""
    return compose(
        "exec", "-T", "--user", "postgres", "db", "pgbackrest", f"--stanza={stanza}", "check"
    )


def restore_argv(compose: Compose, stanza: str, moment: datetime | None) -> Argv:
    """The base backup and the archive up to ``moment`` (None: to its end)
    into the data volume, db stopped: a one-off db container, as the data's
    owner. ``--delta`` rewrites only the files that differ; promote ends
    the recovery there and opens the database for writes."""
    until = (
        ["--type=default"]
        if moment is None
        else ["--type=time", f"--target={target(moment)}", "--target-action=promote"]
    )
    return compose(
        "run", "--rm", "--no-deps", "-T", "--user", "postgres", "--entrypoint", "pgbackrest",
        "db", f"--stanza={stanza}", "--delta", *until, "restore",
    )  # fmt: skip


def parse_time(text: str) -> datetime | None:
    """``2026-11-29 10:14:59`` (UTC unless an offset is given: +01:00), or
    ``latest`` (None)."""
    if text.strip().lower() == LATEST:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("T", " ", 1))
    except ValueError:
        raise Refused(
            f"--time {text!r} is not a time: give it as 'YYYY-MM-DD HH:MM:SS' (UTC), "
            "with an offset ('YYYY-MM-DD HH:MM:SS+01:00'), or 'latest'"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def target(moment: datetime) -> str:
    """The moment as pgBackRest and PostgreSQL read it."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f+00")


ARCHIVER_SQL = (
    "SELECT coalesce(to_char(last_archived_time AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), ''), "
    "coalesce(last_failed_time > coalesce(last_archived_time, '-infinity'), false), "
    "coalesce(last_failed_wal, '') FROM pg_stat_archiver"
)


def archiver_line(row: str) -> tuple[bool, str]:
    """Whether WAL archiving works, and one line on it (ARCHIVER_SQL's row)."""
    archived, failing, failed_wal = (row.split("|") + ["", "", ""])[:3]
    if failing == "t":
        return False, (
            f"WAL archive: FAILING (the last segment tried, {failed_wal}, was not archived; "
            "sh run.sh -0 logs db): segments pile up in the data volume"
        )
    when = f"the last segment at {archived} UTC" if archived else "no segment since db started"
    return True, f"WAL archive: archiving ({when})"


@dataclass(frozen=True)
class Cluster:
    """One cluster's archive: its stanza, and when its oldest and newest
    base backups ended (None: it has none)."""

    stanza: str
    first: datetime | None
    last: datetime | None


def clusters(info_json: str) -> list[Cluster]:
    """The archive's clusters, oldest first (``pgbackrest info --output=json``)."""
    try:
        stanzas = json.loads(info_json or "[]")
    except ValueError:
        return []
    found = []
    for stanza in stanzas if isinstance(stanzas, list) else []:
        stops = sorted(
            int(b["timestamp"]["stop"])
            for b in stanza.get("backup") or []
            if isinstance(b, dict) and b.get("timestamp", {}).get("stop")
        )
        first, last = (
            (
                datetime.fromtimestamp(stops[0], timezone.utc),
                datetime.fromtimestamp(stops[-1], timezone.utc),
            )
            if stops
            else (None, None)
        )
        found.append(Cluster(str(stanza.get("name", "")), first, last))
    epoch = datetime.min.replace(tzinfo=timezone.utc)
    return sorted(found, key=lambda c: (c.first is None, c.first or epoch))


def choose(found: list[Cluster], running: str, moment: datetime | None) -> Cluster:
    """The cluster to recover. For a moment: the running one when it had a
    base backup by then; else the newest earlier one that had, and only up
    to its last base backup (the archive of a database that no longer runs
    ends where it was lost, which it does not date). For ``latest`` (None):
    the newest but the running one, to the end of its archive."""
    backed = [c for c in found if c.first is not None]
    if moment is None:
        others = [c for c in backed if c.stanza != running]
        if not others:
            raise Refused(
                "--time latest recovers a database that ran before this one (a lost data "
                "volume), and the WAL archive holds none: give a time instead"
            )
        return others[-1]
    if moment > datetime.now(timezone.utc):
        raise Refused(f"--time {stamp(moment)} is in the future")
    current = next((c for c in backed if c.stanza == running), None)
    if current is not None and current.first is not None and current.first <= moment:
        return current
    earlier = [c for c in backed if c.stanza != running and c.first and c.first <= moment]
    if not earlier:
        if not backed:
            raise Refused(
                "the WAL archive has no base backup yet: sh run.sh -0 takes the first one"
            )
        oldest = backed[0].first
        assert oldest is not None
        raise Refused(
            f"--time {stamp(moment)} is before the oldest base backup ({stamp(oldest)}): "
            "the archive cannot go back that far"
        )
    cluster = earlier[-1]
    assert cluster.last is not None
    if moment > cluster.last:
        raise Refused(
            f"--time {stamp(moment)} falls in a database that no longer runs, after its last "
            f"base backup ({stamp(cluster.last)}), and its archive may end before then: "
            "sh run.sh -0 restore --time latest brings it back to the end of its archive"
        )
    return cluster


class Pitr:
    def __init__(self, project: Project):
        self.project = project
        self.runner = project.runner
        self.compose = project.compose

    def archiver(self) -> tuple[bool, str] | None:
        """archiver_line of the running db; None when it does not answer."""
        settings = self.project.settings
        argv = self.compose.sql(settings.db_user, settings.db_name, ARCHIVER_SQL)
        done = self.runner.run(argv, quiet=True)
        return archiver_line(done.stdout.strip()) if done.ok else None

    def clusters(self) -> list[Cluster]:
        done = self.runner.run(info_argv(self.compose), quiet=True)
        return clusters(done.stdout) if done.ok else []

    def running_stanza(self) -> str:
        done = self.runner.run(pitr(self.compose, "stanza"), quiet=True)
        return done.stdout.strip() if done.ok else ""

    def ensure_base_backup(self) -> None:
        """This cluster's archive (one older than the archive has none) and a
        base backup in it: the first point a recovery can start from."""
        if not self.runner.run(pitr(self.compose, "setup"), quiet=True).ok:
            raise Refused("pgBackRest could not set up the WAL archive (sh run.sh -0 logs db)")
        stanza = self.running_stanza()
        if any(c.stanza == stanza and c.first for c in self.clusters()):
            return
        started = time.monotonic()
        if not self.runner.run(pitr(self.compose, "backup"), quiet=True).ok:
            raise Refused("the first base backup of the WAL archive failed (sh run.sh -0 logs db)")
        say(f"WAL archive: first base backup taken in {time.monotonic() - started:.0f} s")

    def plan(self, moment: datetime | None) -> tuple[Cluster, str]:
        """The cluster to recover, checked before anything changes, and the
        running one's stanza."""
        running = self.running_stanza()
        return choose(self.clusters(), running, moment), running

    def recover(self, cluster: Cluster, running: str, moment: datetime | None) -> None:
        """Stop db, restore ``cluster`` to ``moment``, start db and wait until
        the replay has ended and it accepts writes. When the moment cannot be
        reached, the same cluster to the end of its archive instead: for the
        running one, that is the database as it was before."""
        if cluster.stanza == running:
            # A commit after the moment, even on an idle site: the replay
            # stops at the first commit past it, and without one PostgreSQL
            # refuses to open the database. Then the segment in progress
            # goes to the archive: the replay reaches up to now.
            settings = self.project.settings
            commit = self.compose.sql(settings.db_user, settings.db_name, COMMIT_MARK_SQL)
            self.runner.run(commit, quiet=True)
            if not self.runner.run(check_argv(self.compose, running), capture=False).ok:
                raise Refused("the WAL archive does not take segments (above); nothing was changed")
        if not self.runner.run(self.compose("stop", "db"), capture=False).ok:
            raise Refused("db did not stop (above); nothing was changed")
        if self.replay(cluster.stanza, moment):
            return
        if moment is not None:
            say("the moment could not be reached (above): replaying the archive to its end instead")
            if self.replay(cluster.stanza, None):
                raise Refused(
                    f"--time {stamp(moment)} could not be reached (sh run.sh -0 logs db); db is "
                    "back at the end of the archive"
                    + (", as it was before the restore" if cluster.stanza == running else "")
                )
        raise Refused(
            "the recovery failed (above) and db could not be brought back from the archive: "
            "its data directory is incomplete"
        )

    def replay(self, stanza: str, moment: datetime | None) -> bool:
        """The data directory restored from ``stanza`` (db stopped), db started
        and its replay ended; False, with db stopped, when any step fails."""
        if not self.runner.run(restore_argv(self.compose, stanza, moment), capture=False).ok:
            return False
        if self.runner.run(self.compose.up("db"), capture=False).ok:
            settings = self.project.settings
            check = self.compose.sql(
                settings.db_user, settings.db_name, "SELECT pg_is_in_recovery()"
            )
            deadline = time.monotonic() + RECOVERY_WAIT
            while time.monotonic() < deadline:
                done = self.runner.run(check, quiet=True)
                if done.ok and done.stdout.strip() == "f":
                    return True
                time.sleep(1)
        self.runner.run(self.compose("stop", "db"), capture=False)  # a db that restarts in a loop
        return False
