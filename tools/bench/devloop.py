"""The development loop: runserver's autoreload, and `sh run.sh test` warm."""

import json
import time

from tools.bench.load import get
from tools.bench.startup import summary
from tools.throwaway import CommandFailed, ThrowawayStack

LIMIT_SETTING = r"^DEFAULT_LIMIT = \d+$"
POLL_SECONDS = 0.02
RELOAD_TIMEOUT = 60


def _item_count(url: str) -> int | None:
    try:
        status, body = get(url, timeout=2)
    except OSError:
        return None  # runserver is restarting
    return len(json.loads(body)["items"]) if status == 200 else None


def autoreload(box: ThrowawayStack, reps: int) -> dict:
    """Seconds from saving a view (its default page size changes) until
    the dev server answers with the new code."""
    url = box.url("dev", "/api/items/")
    times = []
    for _ in range(reps):
        current = _item_count(url)
        wanted = 11 if current == 10 else 10
        box.edit("app/catalog/views.py", LIMIT_SETTING, f"DEFAULT_LIMIT = {wanted}")
        start = time.monotonic()
        while _item_count(url) != wanted:
            if time.monotonic() - start > RELOAD_TIMEOUT:
                raise CommandFailed(f"runserver did not pick up a change within {RELOAD_TIMEOUT}s")
            time.sleep(POLL_SECONDS)
        times.append(time.monotonic() - start)
        time.sleep(1.5)  # let the reloader settle before the next change
    return summary(times)


def test_suite(box: ThrowawayStack, reps: int) -> dict:
    """`sh run.sh test` (no e2e), warm: .venv ready, dev db up, test db kept."""
    box.run_sh("test", "-q", "-p", "no:cacheprovider")  # warm-up: creates the test database
    return summary(
        [box.run_sh("test", "-q", "-p", "no:cacheprovider").seconds for _ in range(reps)]
    )
