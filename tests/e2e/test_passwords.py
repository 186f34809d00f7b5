"""Any printable database password works everywhere: development (pgAdmin's
one-click connection and the host's port included), production, backups,
restores, doctor and the driver. One stack of its own, started afresh for
each password (Postgres reads the password only when it creates its volume).
"""

import re

import pytest
import requests

from support import logged_in_pgadmin, select_one_on_the_dev_port
from tools.throwaway import THROUGH_PROXY, ThrowawayStack, production_settings, strong_secret

pytestmark = pytest.mark.e2e

# Characters special to URLs, .pgpass files, JSON, .env files and shells.
PASSWORDS = {
    "url": "p@ss:w/rd?x=1&y=2#frag%20",
    "pgpass-json-quotes": 'back\\slash:\'single\' "double" {"k": [1]}',
    "env-file": " spaces # not a comment $HOME = ok ",
}


def fresh(stack: ThrowawayStack) -> None:
    """No containers and no volumes: the next start initialises the database."""
    stack.compose("dev", "down", "--volumes", "--remove-orphans", check=False)
    stack.compose("prod", "down", "--volumes", "--remove-orphans", check=False)


@pytest.mark.parametrize("password", PASSWORDS.values(), ids=PASSWORDS.keys())
def test_a_password_with_special_characters_works_in_every_mode(own_stack, password):
    stack = own_stack
    fresh(stack)

    # Development: runserver, the host's database port, pgAdmin, doctor.
    stack.write_env(SECRET_KEY=strong_secret(), POSTGRES_PASSWORD=password)
    stack.run_sh("-1")
    assert requests.get(stack.url("dev", "/readyz"), timeout=10).json()["database"] == "ok"
    assert stack.settings["POSTGRES_PASSWORD"] == password
    assert select_one_on_the_dev_port(stack) == (1,)
    client = logged_in_pgadmin(stack)
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
