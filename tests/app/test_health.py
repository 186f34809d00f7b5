"""/healthz and /readyz: answered before host validation, real database check."""

import json
import time

import pytest

from core import health
from django_process import run_django


def test_liveness_answers_any_host(client):
    response = client.get("/healthz", HTTP_HOST="10.1.2.3:8000")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readiness_queries_the_database(client):
    response = client.get("/readyz", HTTP_HOST="10.1.2.3:8000")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_readiness_fails_when_the_database_is_unreachable():
    # A real connection attempt to a port where nothing listens.
    code = (
        "from django.test import Client\n"
        "r = Client().get('/readyz')\n"
        "print(r.status_code, r.content.decode())"
    )
    result = run_django(
        code, DEBUG="true", POSTGRES_HOST="127.0.0.1", POSTGRES_PORT="9", CONN_MAX_AGE="0"
    )
    assert result.returncode == 0, result.stderr
    status, body = result.stdout.split(" ", 1)
    assert status == "503"
    assert json.loads(body) == {"status": "unavailable", "database": "OperationalError"}


def test_other_paths_still_validate_the_host(client):
    response = client.get("/api/items/", HTTP_HOST="evil.example")
    assert response.status_code == 400


@pytest.fixture
def check_in_progress(monkeypatch):
    """Another thread of this process is asking the database, and hangs."""
    monkeypatch.setattr(health, "_last", health._Answer())
    assert health._check.acquire(blocking=False)
    yield
    health._check.release()


def test_a_readiness_check_never_waits_for_one_already_running(client, check_in_progress):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "still checking"}


def test_meanwhile_a_fresh_answer_is_repeated(client, check_in_progress, monkeypatch):
    monkeypatch.setattr(
        health, "_last", health._Answer(time.monotonic(), {"status": "ok", "database": "ok"}, 200)
    )
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_a_draining_container_is_not_ready(client, tmp_path, monkeypatch):
    drain = tmp_path / "draining"
    monkeypatch.setenv("WEB_DRAIN_FILE", str(drain))
    drain.touch()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "draining"}
