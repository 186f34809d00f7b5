"""/healthz and /readyz: answered before host validation, real database check."""

import json

import pytest

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
