"""Point-in-time recovery (issue 14's figures): the writes a lost data
volume costs, the time to put the database back as it was at a moment, and
what archiving every WAL segment costs in disk and CPU.

``measure`` runs on the production stack with the traffic views installed
(tools/traffic.py) and, in turn:

- seeds the catalogue to media.BACKUP_ROWS rows and takes a base backup of
  the WAL archive (``pgbackrest-pitr backup``, what the scheduled backups
  run), so that a recovery replays little WAL;
- times ``restore --time MOMENT --yes`` after a mistake (the table
  emptied), checked by the row count;
- destroys the data volume at a random moment while the load client writes
  rows, then ``restore --time latest --yes``: the acknowledged rows that
  did not come back, and how many seconds before the destruction the last
  one that did was acknowledged (the measured RPO);
- measures the archive volume's growth at rest and under the write load,
  and the db container's CPU under that load with archiving on and off
  (off: a Compose file of its own for this command only, the db's
  command with ``archive_mode=off``). The archive's continuity ends there.
"""

from __future__ import annotations

import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

from tools import traffic
from tools.bench import cpu, media
from tools.throwaway import THROUGH_PROXY, ThrowawayStack

TRAFFIC_ROWS = "catalog_item WHERE name LIKE 'traffic-%'"  # the load client's rows
SETTLE_S = 5.0  # of load before the random moment, so that rows are being written


def _say(message: str) -> None:
    print(f"bench:   {message}", file=sys.stderr, flush=True)


# -- pure parts ------------------------------------------------------------------


def loss(
    acknowledged: list[str], acknowledged_at: list[float], recovered: set[str], destroyed_at: float
) -> dict:
    """What a destroyed volume cost: the acknowledged rows (names, with the
    time.monotonic() of each acknowledgement) missing from ``recovered``;
    ``rpo_s``, seconds from the last acknowledged row that came back to the
    destruction; ``oldest_lost_s``, from the oldest missing one;
    ``lost_before_kept``, missing rows acknowledged before a row that came
    back (commit and acknowledgement orders differ by a request's latency)."""
    kept = [at for name, at in zip(acknowledged, acknowledged_at, strict=True) if name in recovered]
    lost = [
        at for name, at in zip(acknowledged, acknowledged_at, strict=True) if name not in recovered
    ]
    last_kept = max(kept, default=None)
    return {
        "acknowledged": len(acknowledged),
        "lost": len(lost),
        "rpo_s": None if last_kept is None else round(destroyed_at - last_kept, 2),
        "oldest_lost_s": round(destroyed_at - min(lost), 2) if lost else None,
        "last_acknowledged_s": round(destroyed_at - max(acknowledged_at), 2)
        if acknowledged_at
        else None,
        "lost_before_kept": sum(1 for at in lost if last_kept is not None and at < last_kept),
    }


def archiving_off(command: list[str]) -> list[str]:
    """db's command (compose.yml, resolved) with archiving turned off."""
    if "archive_mode=on" not in command:
        raise RuntimeError(f"db's command does not turn archiving on: {command}")
    return ["archive_mode=off" if word == "archive_mode=on" else word for word in command]


def du_bytes(output: str) -> int:
    """The total of ``du -sb PATH``."""
    return int(output.split()[0])


def per_minute(value: float, seconds: float) -> float:
    return round(value * 60 / seconds, 3)


def lost_window(run: dict) -> float | None:
    """The seconds of acknowledged writes a repetition lost: back to the
    oldest lost row, or to the last one that came back, whichever is
    longer. When every row was lost (the volume went before the first
    segment switch) it is the whole load: a lower bound."""
    figures = [run[key] for key in ("rpo_s", "oldest_lost_s") if run.get(key) is not None]
    return max(figures, default=None)


def summarise_rpo(runs: list[dict]) -> dict:
    """Median and maximum RPO (``lost_window``) over the repetitions, and
    the rows lost."""
    rpos = [w for w in map(lost_window, runs) if w is not None]
    return {
        "rpo_s": {"median": statistics.median(rpos), "max": max(rpos)} if rpos else None,
        "lost": sum(run["lost"] for run in runs),
        "acknowledged": sum(run["acknowledged"] for run in runs),
        "restore_s": {"median": statistics.median(run["restore_s"] for run in runs)},
    }


def load_cost(run: dict) -> dict:
    """A load run's figures per minute: rows written, db CPU seconds, the
    archiver's CPU seconds and the archive's growth in bytes; and db's CPU
    milliseconds per row written (the two runs' rates differ)."""
    seconds = run["seconds"]
    figures = {
        "rows_per_min": per_minute(run["rows"], seconds),
        "db_cpu_ms_per_row": round(run["db_cpu_s"] * 1000 / run["rows"], 3)
        if run["rows"]
        else None,
    }
    for key in ("db_cpu_s", "archiver_cpu_s", "archive_bytes"):
        if run.get(key) is not None:
            figures[f"{key.removesuffix('_s')}_per_min"] = per_minute(run[key], seconds)
    return {**run, **figures}


# -- the stack -------------------------------------------------------------------


def _db(box: ThrowawayStack) -> dict:
    return box.inspect("prod", "db")


def _db_env(box: ThrowawayStack) -> dict[str, str]:
    return dict(item.split("=", 1) for item in _db(box)["Config"]["Env"])


def _volume_at(inspect: dict, path: str) -> str:
    """The name of the volume mounted at ``path`` in a container."""
    for mount in inspect["Mounts"]:
        if mount["Destination"] == path.rstrip("/"):
            return str(mount["Name"])
    raise RuntimeError(f"no volume at {path} in {inspect['Name']}")


def archive_timeout(box: ThrowawayStack) -> int:
    """WAL_ARCHIVE_TIMEOUT as the running database has it, in seconds."""
    return int(box.psql("prod", "SELECT setting FROM pg_settings WHERE name = 'archive_timeout'"))


def archive_bytes(box: ThrowawayStack) -> int:
    """Bytes on the WAL archive's volume (PGBACKREST_REPO1_PATH in db)."""
    path = _db_env(box)["PGBACKREST_REPO1_PATH"]
    done = box.compose("prod", "exec", "-T", "--user", "postgres", "db", "du", "-sb", path)
    return du_bytes(done.stdout)


def _archived_segments(box: ThrowawayStack) -> int:
    return int(box.psql("prod", "SELECT archived_count FROM pg_stat_archiver"))


def _count(box: ThrowawayStack) -> int:
    return int(box.psql("prod", "SELECT count(*) FROM catalog_item"))


def base_backup(box: ThrowawayStack) -> float:
    """Seconds of a full base backup into the archive (what the scheduled
    backups take): the point the next recoveries replay from."""
    started = time.monotonic()
    box.compose("prod", "exec", "-T", "--user", "postgres", "db", "pgbackrest-pitr", "backup")
    return round(time.monotonic() - started, 2)


def restore_to_moment(box: ThrowawayStack) -> dict:
    """The moment after the last commit, a mistake (the catalogue emptied),
    then the wall time of ``restore --time MOMENT --yes`` (its pre-restore
    backup included), checked by the row count."""
    rows = _count(box)
    moment = box.psql(
        "prod",
        "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')",
    )
    time.sleep(0.5)
    box.psql("prod", "TRUNCATE catalog_item")  # the mistake
    started = time.monotonic()
    box.run_sh("-0", "restore", "--time", moment, "--yes")
    seconds = time.monotonic() - started
    restored = _count(box)
    if restored != rows:
        raise RuntimeError(f"restore --time {moment} brought back {restored} rows, not {rows}")
    return {"rows": rows, "restore_s": round(seconds, 2)}


def destroy_data(box: ThrowawayStack) -> float:
    """The data volume lost: db's container and its data volume removed
    (the archive's volume stays). The time.monotonic() of the destruction:
    when the removal began, which kills the container's processes at once
    (the rest of it, most of the second it takes under load, is cleanup)."""
    db = _db(box)
    volume = _volume_at(db, _db_env(box)["PGBACKREST_PG1_PATH"])
    destroyed_at = time.monotonic()
    for argv in (["docker", "rm", "--force", db["Id"]], ["docker", "volume", "rm", volume]):
        subprocess.run(argv, capture_output=True, check=True)
    return destroyed_at


def lose_the_volume(box: ThrowawayStack, delay: float) -> dict:
    """The data volume destroyed ``delay`` seconds into a write load, then
    ``restore --time latest --yes``: what came back (``loss``)."""
    with traffic.traffic(box.web_url(""), headers=THROUGH_PROXY, slow_share=0.0) as client:
        time.sleep(delay)
        destroyed_at = destroy_data(box)
    started = time.monotonic()
    box.run_sh("-0", "restore", "--time", "latest", "--yes")
    restore_s = round(time.monotonic() - started, 2)
    recovered = set(box.psql("prod", f"SELECT name FROM {TRAFFIC_ROWS}").split())
    counts = client.counts
    return {
        "delay_s": round(delay, 2),
        "restore_s": restore_s,
        **loss(counts.acknowledged, counts.acknowledged_at, recovered, destroyed_at),
    }


def at_rest(box: ThrowawayStack, seconds: float) -> dict:
    """The archive's growth over ``seconds`` with no load: bytes, segments."""
    size, segments = archive_bytes(box), _archived_segments(box)
    time.sleep(seconds)
    grown = archive_bytes(box) - size
    return {
        "seconds": seconds,
        "archive_bytes": grown,
        "segments": _archived_segments(box) - segments,
        "archive_bytes_per_hour": round(grown * 3600 / seconds),
    }


def under_load(box: ThrowawayStack, seconds: float, archiving: bool) -> dict:
    """``seconds`` of the write load: rows acknowledged, CPU seconds of the
    db container's processes and (archiving) of the archiver's, with the
    archive commands it ran; the archive's growth."""
    postmaster = int(_db(box)["State"]["Pid"])
    archiver = cpu.named_child(postmaster, "archiver") if archiving else None
    size = archive_bytes(box) if archiving else None
    watched = {"db": [postmaster], **({"archiver": [archiver]} if archiver else {})}
    before = {name: cpu.tree_seconds(pids) for name, pids in watched.items()}
    with traffic.traffic(box.web_url(""), headers=THROUGH_PROXY, slow_share=0.0) as client:
        time.sleep(seconds)
        used = {name: cpu.tree_seconds(pids) - before[name] for name, pids in watched.items()}
        rows = len(client.counts.acknowledged)
    return load_cost(
        {
            "archiving": archiving,
            "seconds": seconds,
            "rows": rows,
            "db_cpu_s": round(used["db"], 3),
            "archiver_cpu_s": round(used["archiver"], 3) if "archiver" in used else None,
            "archive_bytes": None if size is None else archive_bytes(box) - size,
        }
    )


def _archiving_off_file(box: ThrowawayStack) -> Path:
    """A Compose file of the benchmark's (not in the copy) giving db its
    resolved command with archiving off."""
    config = json.loads(box.compose("prod", "config", "--format", "json").stdout)
    command = archiving_off(config["services"]["db"]["command"])
    path = box.tmp / "archiving-off.yml"
    path.write_text(json.dumps({"services": {"db": {"command": command}}}))  # JSON is YAML
    return path


def _recreate_db(box: ThrowawayStack, *files: str) -> None:
    box.compose("prod", *files, "up", "--detach", "--wait", "--no-deps", "db")


def costs(box: ThrowawayStack, rest_s: float, load_s: float) -> dict:
    """The archive's growth at rest, then the load with archiving on and off."""
    _say(f"WAL archive at rest, {rest_s:.0f} s")
    rest = at_rest(box, rest_s)
    _say(f"write load, {load_s:.0f} s, archiving on")
    on = under_load(box, load_s, archiving=True)
    _recreate_db(box, "-f", str(_archiving_off_file(box)))
    try:
        _say(f"write load, {load_s:.0f} s, archiving off")
        off = under_load(box, load_s, archiving=False)
    finally:
        _recreate_db(box)
    return {"at_rest": rest, "load": [on, off]}


def measure(box: ThrowawayStack, profile: dict) -> dict:
    """The module docstring's steps; ``profile``: __main__.PROFILES."""
    if profile["wal_archive_timeout"] is not None:
        box.set_env(WAL_ARCHIVE_TIMEOUT=str(profile["wal_archive_timeout"]))
        box.run_sh("-0")
    timeout = archive_timeout(box)
    rows = media.seed_rows(box, media.BACKUP_ROWS)
    result: dict = {"wal_archive_timeout_s": timeout, "rows": rows}
    _say(f"base backup of {rows:,} rows")
    result["base_backup_s"] = base_backup(box)
    pitr = []
    for rep in range(profile["pitr_reps"]):
        _say(f"restore --time to a moment, rep {rep + 1}/{profile['pitr_reps']}")
        pitr.append(restore_to_moment(box))
    result["to_moment"] = {
        "runs": pitr,
        "restore_s": {"median": statistics.median(run["restore_s"] for run in pitr)},
    }
    chooser = random.Random()
    runs = []
    for rep in range(profile["rpo_reps"]):
        delay = SETTLE_S + chooser.uniform(0, timeout)
        _say(
            f"data volume destroyed {delay:.1f} s into the load, rep {rep + 1}/{profile['rpo_reps']}"
        )
        runs.append(lose_the_volume(box, delay))
    result["lost_volume"] = {"runs": runs, **summarise_rpo(runs)}
    # At least two timeouts long, so that segments are switched and archived.
    rest_s, load_s = (
        max(profile[key], 2 * timeout) for key in ("archive_rest_s", "archive_load_s")
    )
    result["cost"] = costs(box, rest_s, load_s)
    result["archive_total_bytes"] = archive_bytes(box)
    return result
