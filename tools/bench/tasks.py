"""Background tasks (issue 12's figures): no-op tasks per second with one and
two workers, enqueue-to-start latency, and a worker's memory at rest.

Times come from the task rows themselves (django-ox's enqueued_at,
started_at, finished_at: the database's clock), so the figures leave out
the `docker compose exec` that enqueues them.
"""

import subprocess
import sys
import time

from tools.throwaway import ThrowawayStack

TASK_PATH = "catalog.fixture_tasks.noop"
IMPORT = "from catalog.fixture_tasks import noop\n"
ROWS = f"FROM django_ox_oxtask WHERE task_path = '{TASK_PATH}'"


def install(box: ThrowawayStack) -> None:
    """The fixture tasks, before the stack is (re)deployed."""
    box.add_fixture("fixture_tasks.py")


def _scale(box: ThrowawayStack, workers: int) -> None:
    box.compose("prod", "up", "--detach", "--wait", "--no-deps", "--scale", f"worker={workers}",
                "worker")  # fmt: skip


def _wait_done(box: ThrowawayStack, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = box.psql("prod", f"SELECT count(*) {ROWS} AND status = 'SUCCESSFUL'")
        if int(done) >= count:
            return
        time.sleep(0.5)
    raise RuntimeError(f"{count} no-op tasks did not finish within {timeout} s")


def throughput(box: ThrowawayStack, workers: int, count: int) -> dict:
    """``count`` no-op tasks enqueued in one transaction (visible to the
    workers at once), run by ``workers`` workers: tasks per second from the
    first start to the last finish."""
    box.psql("prod", f"DELETE {ROWS}")
    _scale(box, workers)
    code = (
        f"{IMPORT}from django.db import transaction\n"
        f"with transaction.atomic():\n    for _ in range({count}): noop.enqueue()\n"
    )
    box.django_shell(code)
    _wait_done(box, count, timeout=count)
    seconds = float(
        box.psql("prod", f"SELECT extract(epoch FROM max(finished_at) - min(started_at)) {ROWS}")
    )
    return {"workers": workers, "tasks": count, "seconds": round(seconds, 3),
            "per_s": round(count / seconds, 1)}  # fmt: skip


def latency(box: ThrowawayStack, count: int, gap: float) -> dict:
    """One worker, idle: ``count`` tasks enqueued one at a time, ``gap``
    seconds apart; started_at - enqueued_at, p50 and p99 in milliseconds."""
    box.psql("prod", f"DELETE {ROWS}")
    _scale(box, 1)
    code = f"{IMPORT}import time\nfor _ in range({count}):\n    noop.enqueue(); time.sleep({gap})\n"
    box.django_shell(code)
    _wait_done(box, count, timeout=60)
    row = box.psql(
        "prod",
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms), "
        "percentile_cont(0.99) WITHIN GROUP (ORDER BY ms), max(ms) FROM ("
        f"SELECT extract(epoch FROM started_at - enqueued_at) * 1000 AS ms {ROWS}) t",
    )
    p50, p99, worst = (round(float(value), 1) for value in row.split("|"))
    return {"tasks": count, "gap_s": gap, "p50_ms": p50, "p99_ms": p99, "max_ms": worst}


def memory_at_rest(box: ThrowawayStack, settle: float) -> float:
    """MiB a worker container uses after ``settle`` idle seconds (docker stats)."""
    _scale(box, 1)
    time.sleep(settle)
    (container,) = box.compose("prod", "ps", "-q", "worker").stdout.split()
    usage = subprocess.run(
        ["docker", "stats", "--no-stream", "--format", "{{.MemUsage}}", container],
        capture_output=True, text=True, check=True,
    ).stdout.split("/")[0].strip()  # fmt: skip
    number, unit = float(usage.rstrip("KMGiB")), usage.lstrip("0123456789.")
    return round(number * {"KiB": 1 / 1024, "MiB": 1, "GiB": 1024}[unit], 1)


def measure(box: ThrowawayStack, count: int, reps: int) -> dict:
    result: dict = {"runs": []}
    for workers in (1, 2):
        for rep in range(reps):
            print(f"bench:   {count} no-op tasks, {workers} worker(s), rep {rep + 1}/{reps}",
                  file=sys.stderr)  # fmt: skip
            result["runs"].append(throughput(box, workers, count))
    print("bench:   enqueue-to-start latency", file=sys.stderr)
    result["latency"] = latency(box, count=50, gap=0.3)
    result["memory_mib"] = memory_at_rest(box, settle=10)
    return result
