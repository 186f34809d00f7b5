"""Liveness (/healthz) and readiness (/readyz) endpoints.

Answered by a middleware placed first, so probes from Docker or a load
balancer skip host validation, sessions and the rest of the stack: a probe
must not fail because it calls the container by an address that is not in
ALLOWED_HOSTS, and it must stay cheap under load.
"""

import os

from django.db import DatabaseError, connection
from django.http import JsonResponse


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
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as error:
        return JsonResponse({"status": "unavailable", "database": type(error).__name__}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})


PROBES = {"/healthz": liveness, "/readyz": readiness}


class HealthCheckMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        probe = PROBES.get(request.path)
        if probe is not None:
            return probe()
        return self.get_response(request)
