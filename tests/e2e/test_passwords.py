"""Any printable database password works everywhere: development (pgAdmin's
one-click connection and the host's port included), production, backups,
restores, doctor and the driver. One stack of its own, started afresh for
each password (Postgres reads the password only when it creates its volume).
"""

import re

import psycopg2
import pytest
import requests
from pgadmin_client import PgAdminClient

from tools.throwaway import THROUGH_PROXY, ThrowawayStack, production_settings, strong_secret

pytestmark = pytest.mark.e2e

# Characters special to URLs, .pgpass files, JSON, .env files and shells.
PASSWORDS = {
    "url": "p@ss:w/rd?x=1&y=2#frag%20",
    "pgpass-json-quotes": "back\\slash:'single' \"double\" {\"k\": [1]}",
    "env-file": " spaces # not a comment $HOME = ok ",
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    copy = ThrowawayStack(parent=tmp_path_factory.mktemp("passwords"))
    try:
        yield copy
    finally:
        copy.close()


def fresh(stack: ThrowawayStack) -> None:
    """No containers and no volumes: the next start initialises the database."""
    stack.compose("dev", "down", "--volumes", "--remove-orphans", check=False)
    stack.compose("prod", "down", "--volumes", "--remove-orphans", check=False)


@pytest.mark.parametrize("password", PASSWORDS.values(), ids=PASSWORDS.keys())
def test_a_password_with_special_characters_works_in_every_mode(stack, password):
    fresh(stack)

    # Development: runserver, the host's database port, pgAdmin, doctor.
    stack.write_env(SECRET_KEY=strong_secret(), POSTGRES_PASSWORD=password)
    stack.run_sh("-1")
    assert requests.get(stack.url("dev", "/readyz"), timeout=10).json()["database"] == "ok"
    with (
        psycopg2.connect(
            host="127.0.0.1",
            port=stack.ports["DEV_DB_PORT"],
            user=stack.settings["POSTGRES_USER"],
            password=password,
            dbname=stack.settings["POSTGRES_DB"],
            connect_timeout=5,
        ) as connection,
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
    client = PgAdminClient(f"http://127.0.0.1:{stack.ports['PGADMIN_PORT']}")
    client.login(stack.settings["PGADMIN_DEFAULT_EMAIL"], stack.settings["PGADMIN_DEFAULT_PASSWORD"])
    (server,) = client.servers()
    answer = client.connect(server["gid"], server["sid"])
    assert answer.status_code == 200, answer.text[:300]
    assert answer.json()["data"]["connected"] is True
    doctor = stack.run_sh("doctor", check=False).stdout
    assert "✓ database password in .env opens the database" in doctor, doctor
    stack.run_sh("down")

    # Production: deploy, backup, restore, doctor.
    stack.write_env(**production_settings(POSTGRES_PASSWORD=password))
    stack.run_sh("-0")
    ready = requests.get(stack.url("prod", "/readyz"), headers=THROUGH_PROXY, timeout=10)
    assert ready.json()["database"] == "ok"
    backup = re.search(r"backup: (\S+\.dump) \(", stack.run_sh("-0", "backup").stderr)
    assert backup, "no backup reported"
    restore = stack.run_sh("-0", "restore", backup.group(1), "--yes")
    assert "restored" in restore.stderr
    ready = requests.get(stack.url("prod", "/readyz"), headers=THROUGH_PROXY, timeout=10)
    assert ready.json()["database"] == "ok"
    doctor = stack.run_sh("-0", "doctor", check=False)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    stack.run_sh("-0", "down")
