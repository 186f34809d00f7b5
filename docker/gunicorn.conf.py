"""gunicorn settings for the production web container.

Each value is read from the environment once, at start; a bad value fails
with a message naming the variable. Reference:
https://docs.gunicorn.org/en/stable/settings.html
"""

import os


def _int_from_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, got {raw!r}") from None
    if value < 1:
        raise SystemExit(f"{name} must be at least 1, got {value}")
    return value


_cpus = len(os.sched_getaffinity(0))

bind = "0.0.0.0:8000"
# gunicorn's recommended starting point: (2 x cores) + 1 sync workers.
workers = _int_from_env("WEB_CONCURRENCY", 2 * _cpus + 1)
threads = _int_from_env("GUNICORN_THREADS", 1)
timeout = _int_from_env("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int_from_env("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = 5

accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()

# Heartbeat files in memory, not on the container's (overlay) disk:
# https://docs.gunicorn.org/en/stable/faq.html#blocking-os-fchmod
worker_tmp_dir = "/dev/shm"
