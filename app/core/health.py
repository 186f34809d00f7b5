"""Liveness (/healthz) and readiness (/readyz) endpoints.

Answered by a middleware placed first, so probes from Docker or a load
balancer skip host validation, sessions and the rest of the stack: a probe
must not fail because it calls the container by an address that is not in
ALLOWED_HOSTS, and it must stay cheap under load.
"""

import os
import threading
import time
from dataclasses import dataclass, field

from django.db import DatabaseError, connection
from django.http import JsonResponse

# One database check at a time per process. The proxy asks /readyz every
# second; when the database hangs (a black-holed host, a name that takes
# seconds to resolve), checks would otherwise pile up on every gunicorn
# thread, and /healthz and real requests would wait behind them. A check
# asked while another runs answers as the last one did, if that was within
# FRESH_SECONDS, else 503.
FRESH_SECONDS = 2.0


@dataclass
class _Answer:
    at: float = 0.0  # time.monotonic() when the check ended
    body: dict = field(default_factory=dict)
    status: int = 503


_check = threading.Lock()
_last = _Answer()


def liveness() -> JsonResponse:
    """The process is up and serving requests."""
    return JsonResponse({"status": "ok"})


def readiness() -> JsonResponse:
    """The database answers a query; 503 names the error class when not.

    Also 503 while this container drains: a deploy creates WEB_DRAIN_FILE
    (compose.yml) once the new release serves, so that the proxy sends it no
    new request while it finishes those in flight (driver/rollout.py).
    """
    drain_file = os.environ.get("WEB_DRAIN_FILE", "")
    if drain_file and os.path.exists(drain_file):
        return JsonResponse({"status": "draining"}, status=503)
    if not _check.acquire(blocking=False):
        if time.monotonic() - _last.at <= FRESH_SECONDS:
            return JsonResponse(_last.body, status=_last.status)
        return JsonResponse({"status": "unavailable", "database": "still checking"}, status=503)
    try:
        body, status = _database_readiness()
        _last.at, _last.body, _last.status = time.monotonic(), body, status
    finally:
        _check.release()
    return JsonResponse(body, status=status)


def _database_readiness() -> tuple[dict, int]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as error:
        return {"status": "unavailable", "database": type(error).__name__}, 503
    return {"status": "ok", "database": "ok"}, 200


PROBES = {"/healthz": liveness, "/readyz": readiness}


class HealthCheckMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        probe = PROBES.get(request.path)
        if probe is not None:
            return probe()
        return self.get_response(request)
