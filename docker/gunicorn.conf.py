"""gunicorn settings for the production web container.

Each value is read from the environment once, at start; a bad value fails
with a message naming the variable. Reference:
https://docs.gunicorn.org/en/stable/settings.html
"""

import math
import os
import sys
from pathlib import Path

from gunicorn.glogging import Logger


def _int_from_env(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise SystemExit(f"{name} must be at least {minimum}, got {value}")
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
# gunicorn's recommended starting point, (2 x cores) + 1 workers, with the
# cores the container's CPU limit allows (so the default fits its memory),
# each with 2 threads: with more than one thread gunicorn runs threaded
# (gthread) workers, which keep client connections alive; that saves a TCP
# handshake per request, and a connection through Docker's port proxy.
# 1 thread means plain sync workers, which close the connection after each
# response (compare them with: sh run.sh bench --set GUNICORN_THREADS=1).
workers = _int_from_env("WEB_CONCURRENCY", 2 * _cpus + 1)
threads = _int_from_env("GUNICORN_THREADS", 2)
# Django is imported once, in the master, before the workers are forked:
# they start at once instead of each importing it (all at once, on the same
# few cores), and share its memory. No database connection is open at fork.
preload_app = True
timeout = _int_from_env("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int_from_env("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = 5
# Docker Swarm (compose.swarm.yml): seconds to keep serving after SIGTERM
# (when_ready, below); read here so that a bad value stops the start.
stop_drain = _int_from_env("WEB_STOP_DRAIN", 0, minimum=0)

accesslog = "-"
# The visitor's address and the request's id come from the proxy
# (X-Forwarded-For, X-Request-ID: docker/caddy/Caddyfile); gunicorn's own
# remote address is the proxy's.
access_log_format = (
    '%({x-forwarded-for}i)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s" request_id=%({x-request-id}i)s'
)
errorlog = "-"


class QuietProbesLogger(Logger):
    """The access log without the health probes that pass: the proxy asks
    each web slot's /readyz every second (docker/caddy/Caddyfile) and
    Docker asks /healthz every two. A failing probe is still logged."""

    def access(self, resp, req, environ, request_time):
        if req.path in ("/healthz", "/readyz") and str(resp.status).startswith("200"):
            return
        super().access(resp, req, environ, request_time)


logger_class = QuietProbesLogger
loglevel = os.environ.get("LOG_LEVEL", "info").lower()

# Heartbeat files in memory, not on the container's (overlay) disk:
# https://docs.gunicorn.org/en/stable/faq.html#blocking-os-fchmod
worker_tmp_dir = "/dev/shm"
# The root filesystem is read-only and nothing here uses gunicornc: no
# control socket (it would go to $HOME/.gunicorn and fail with a warning).
control_socket_disable = True


def on_starting(server):
    """Wait for the database (DB_WAIT_TIMEOUT seconds), then check that
    uploads can be stored (STORAGE_BACKEND: one request to the bucket, or a
    write test of MEDIA_ROOT), before serving.

    Runs in the master with Django already loaded (preload_app), so the
    checks cost no second interpreter; the connection it opened is closed
    before the workers are forked, so that none of them shares it.
    """
    from django.core.management import call_command
    from django.core.management.base import CommandError
    from django.db import connections

    try:
        call_command("start_checks")  # the database (DB_WAIT_TIMEOUT), then storage
    except CommandError as error:
        sys.exit(f"CommandError: {error}")
    finally:
        connections.close_all()


def when_ready(server):
    """WEB_STOP_DRAIN seconds (Docker Swarm sets it: compose.swarm.yml): on
    SIGTERM, keep serving that long while the proxy learns that this task is
    gone (Swarm takes it out of web's name as it stops it), with /readyz at
    503 (WEB_DRAIN_FILE) for any other client that asks; then stop as
    gunicorn does (requests in flight get GUNICORN_GRACEFUL_TIMEOUT). On
    one host the deploy drains the container itself (driver/rollout.py)."""
    import signal
    import threading
    import time

    drain_file = os.environ.get("WEB_DRAIN_FILE", "")
    if not stop_drain:
        return

    def drain_then_stop():
        try:
            if drain_file:
                Path(drain_file).touch()
            server.log.info("SIGTERM: draining for %d s, then stopping", stop_drain)
            time.sleep(stop_drain)
        finally:
            os.kill(os.getpid(), signal.SIGTERM)

    def stop_later(signum, frame):
        # gunicorn's own handler again, for the second SIGTERM; nothing that
        # takes a lock (logging) runs in a signal handler.
        signal.signal(signal.SIGTERM, server.signal)
        threading.Thread(target=drain_then_stop, daemon=True).start()

    signal.signal(signal.SIGTERM, stop_later)
