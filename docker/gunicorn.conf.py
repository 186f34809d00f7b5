"""gunicorn settings for the production web container.

Each value is read from the environment once, at start; a bad value fails
with a message naming the variable. Reference:
https://docs.gunicorn.org/en/stable/settings.html
"""

import math
import os
from pathlib import Path


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


def _cpu_quota() -> float | None:
    """CPUs' worth of time the container may use (Compose's cpus limit,
    WEB_CPU_LIMIT), from cgroup v2 or v1; None when there is no limit."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 else None


def _usable_cpus() -> int:
    """The CPUs this container may run on, capped by its CPU limit."""
    cpus = len(os.sched_getaffinity(0))
    quota = _cpu_quota()
    return cpus if quota is None else max(1, min(cpus, math.ceil(quota)))


_cpus = _usable_cpus()

bind = "0.0.0.0:8000"
# gunicorn's recommended starting point: (2 x cores) + 1 sync workers, with
# the cores the container's CPU limit allows (so the default fits its memory).
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
# The root filesystem is read-only and nothing here uses gunicornc: no
# control socket (it would go to $HOME/.gunicorn and fail with a warning).
control_socket_disable = True
