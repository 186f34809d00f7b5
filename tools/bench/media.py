"""Uploads: serving a media file through the proxy, and backing up and
restoring the media volume beside the database (issue 11's figures)."""

import re
import sys
import time

from driver.media import MEDIA_ROOT
from tools.bench.load import get, run_wrk
from tools.bench.throughput import CONNECTIONS
from tools.throwaway import ThrowawayStack

FILE_BYTES = 100_000
SERVED = "bench/served.bin"  # under MEDIA_ROOT, served at /media/
# The backup figure: this many files of FILE_BYTES beside this many rows.
BACKUP_FILES = 1000
BACKUP_ROWS = 100_000


def write_files(box: ThrowawayStack, web: str, *names: str) -> None:
    """Files of FILE_BYTES random bytes at ``names`` under MEDIA_ROOT, written
    by the web container ``web`` as its own user (as uploads are)."""
    script = (
        "import os, pathlib, sys\n"
        "for name in sys.argv[2:]:\n"
        "    path = pathlib.Path(sys.argv[1]) / name\n"
        "    path.parent.mkdir(parents=True, exist_ok=True)\n"
        f"    path.write_bytes(os.urandom({FILE_BYTES}))\n"
    )
    box.compose("prod", "exec", "-T", web, "python", "-c", script, MEDIA_ROOT, *names)


def serve(box: ThrowawayStack, reps: int, seconds: int) -> dict:
    """wrk on one FILE_BYTES file through the proxy's published port:
    requests and megabytes per second, per connection count (medians)."""
    write_files(box, box.web_service(), SERVED)
    url = box.web_url(f"/media/{SERVED}")
    status, body = get(url)
    if status != 200 or len(body) != FILE_BYTES:
        raise RuntimeError(f"{url}: {status} with {len(body)} bytes, expected {FILE_BYTES}")
    result: dict = {"file_bytes": FILE_BYTES, "seconds": seconds, "reps": reps}
    for connections in CONNECTIONS:
        runs = []
        for rep in range(reps):
            print(f"bench:   wrk media c={connections} rep {rep + 1}/{reps}", file=sys.stderr)
            runs.append(run_wrk(url, connections, seconds))
        middle = sorted(runs, key=lambda run: run["rps"])[len(runs) // 2]
        result[str(connections)] = {
            "rps": middle["rps"],
            "mb_s": round(middle["rps"] * FILE_BYTES / 1_000_000, 1),
            "p99_ms": middle["p99_ms"],
            "errors": sum(run["non2xx"] + run["socket_errors"] for run in runs),
        }
    return result


def seed_rows(box: ThrowawayStack, rows: int) -> int:
    """Fill production's catalogue up to ``rows`` rows (none added when it
    has them already); the count after."""
    box.psql(
        "prod",
        "INSERT INTO catalog_item (name, description, created_at) "
        "SELECT 'row ' || g, repeat('lorem ipsum ', 8), now() "
        f"FROM generate_series(1, {rows} - (SELECT count(*) FROM catalog_item)) AS g",
    )
    return int(box.psql("prod", "SELECT count(*) FROM catalog_item"))


def backup_and_restore(box: ThrowawayStack) -> dict:
    """Seconds of `backup` and of `restore --yes` with BACKUP_FILES files of
    FILE_BYTES on the media volume and BACKUP_ROWS rows in the database; the
    restore is checked (row count, file count) so that a fast failure is
    never a figure."""
    seed_rows(box, BACKUP_ROWS)
    web = box.web_service()
    write_files(box, web, *(f"backup/{n:05d}.bin" for n in range(BACKUP_FILES)))
    rows = box.psql("prod", "SELECT count(*) FROM catalog_item")
    files = _count_files(box, web)
    started = time.monotonic()
    made = box.run_sh("-0", "backup")
    backup_s = time.monotonic() - started
    dump = re.search(r"backup: (\S+\.dump)", made.stderr + made.stdout)
    if not dump:
        raise RuntimeError(f"backup printed no .dump path:\n{made.stderr[-1000:]}")
    started = time.monotonic()
    box.run_sh("-0", "restore", dump.group(1), "--yes")
    restore_s = time.monotonic() - started
    restored = box.psql("prod", "SELECT count(*) FROM catalog_item")
    if restored != rows or _count_files(box, box.web_service()) != files:
        raise RuntimeError("the restore did not bring back the same rows and files")
    return {
        "rows": int(rows),
        "files": files,
        "file_bytes": FILE_BYTES,
        "backup_s": round(backup_s, 2),
        "restore_s": round(restore_s, 2),
    }


def _count_files(box: ThrowawayStack, web: str) -> int:
    found = box.compose("prod", "exec", "-T", web, "find", MEDIA_ROOT, "-type", "f").stdout
    return len(found.split())
