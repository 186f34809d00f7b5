"""Reading the resolved settings from `docker compose config`, and Compose's
refusals turned into one line that names the setting."""

import pytest

from driver.settings import Port, compose_error, from_config
from fakes import config


def test_values_come_from_the_resolved_model():
    model = config()
    model["services"]["db"]["environment"]["POSTGRES_PASSWORD"] = "a$$b"  # Compose writes $ as $$
    model["services"]["db"]["ports"] = [{"host_ip": "127.0.0.1", "published": "5433"}]
    model["x-host-runserver"] = {"port": "8001"}
    settings = from_config(model, ".env")
    assert settings.project == "proj"
    assert (settings.db_name, settings.db_user, settings.db_password) == ("app", "app", "a$b")
    assert settings.published("web") == [Port("WEB_PORT", "8000", "127.0.0.1")]
    assert settings.first_port("db") == "5433"
    assert settings.first_port("pgadmin") == ""
    assert settings.driver == {"backup_dir": "./backups", "backup_keep": "10"}
    assert settings.host_web_port == "8001"
    assert settings.database_url == ""


def test_a_port_range_is_every_port_in_it():
    assert Port("WEB_PORT", "8000-8002").numbers() == [8000, 8001, 8002]
    assert Port("WEB_PORT", "8000").numbers() == [8000]


@pytest.mark.parametrize(
    ("output", "env_text", "line"),
    [
        (
            (
                "error while interpolating services.db.environment.POSTGRES_PASSWORD: required "
                "variable POSTGRES_PASSWORD is missing a value: POSTGRES_PASSWORD is empty: set one"
            ),
            "",
            "POSTGRES_PASSWORD is empty: set one",
        ),
        (
            "invalid hostPort: 8000-",
            "WEB_PORT=8000-\n",
            "WEB_PORT is not a valid port number or range (1-65535): '8000-'",
        ),
        (
            "invalid hostPort: abc",
            'DEV_DB_PORT="abc"\n',
            "DEV_DB_PORT is not a valid port number or range (1-65535): 'abc'",
        ),
        (
            "invalid hostPort: abc",
            "",
            "a port setting is not a valid port number or range (1-65535): 'abc'",
        ),
        (
            "failed to read /x/.env: line 2: unterminated quoted value 'k",
            "",
            "cannot read the settings: failed to read /x/.env: line 2: unterminated quoted value 'k",
        ),
    ],
)
def test_compose_refusals_become_one_line(output, env_text, line):
    assert compose_error(output, env_text) == line
