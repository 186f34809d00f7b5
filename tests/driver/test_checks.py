"""Pre-flight checks: ports, mode switches, line endings, missing settings, versions."""

import pytest

from driver import checks
from driver.console import Refused
from driver.modes import BY_NAME, DEV, PROD
from driver.settings import Port, Settings


def settings(**ports) -> Settings:
    return Settings("proj", ".env", ports=ports, host_web_port="8001")


def test_each_mode_checks_the_ports_it_publishes():
    s = settings(
        web=[Port("WEB_PORT", "8000")],
        db=[Port("DEV_DB_PORT", "5433")],
        pgadmin=[Port("PGADMIN_PORT", "5050")],
    )
    names = {mode: [p.setting for p in checks.mode_ports(BY_NAME[mode], s)] for mode in BY_NAME}
    assert names["prod"] == [
        "WEB_PORT",
        "DEV_DB_PORT",
        "PGADMIN_PORT",
    ]  # what the prod files publish
    assert names["dev"] == ["WEB_PORT", "DEV_DB_PORT", "PGADMIN_PORT"]
    assert names["db"] == ["DEV_DB_PORT", "PGADMIN_PORT"]
    assert names["host"] == ["DEV_DB_PORT", "PGADMIN_PORT", "HOST_WEB_PORT"]


def test_a_port_held_by_another_program_is_named_with_its_setting():
    ports = [Port("WEB_PORT", "8000-8001"), Port("DEV_DB_PORT", "5433")]
    problem = checks.port_problem(ports, "", lambda port: port == 8001, "prod.env")
    assert problem == (
        "port 8001 (WEB_PORT) is already in use by another program: "
        "stop it, or set WEB_PORT in prod.env to a free port"
    )
    assert checks.port_problem(ports, "", lambda port: False, ".env") is None


def test_the_stacks_own_ports_are_no_conflict():
    ours = "127.0.0.1:8000->8000/tcp, 127.0.0.1:8001->8000/tcp"
    assert (
        checks.port_problem([Port("WEB_PORT", "8000-8001")], ours, lambda p: True, ".env") is None
    )


@pytest.mark.parametrize(
    ("mode", "running", "message"),
    [
        (PROD, DEV, "the development stack is running; stop it first: sh run.sh -1 down"),
        (DEV, PROD, "the production stack is running in project proj; stop it first"),
        (BY_NAME["db"], PROD, "the production stack is running"),
        (PROD, PROD, None),
        (DEV, BY_NAME["host"], None),
        (PROD, None, None),
    ],
)
def test_switching_between_dev_and_prod_must_be_asked_for(mode, running, message):
    if message is None:
        checks.refuse_mode_switch(mode, running, "proj")
    else:
        with pytest.raises(Refused, match=message):
            checks.refuse_mode_switch(mode, running, "proj")


def test_missing_settings_are_those_the_example_sets_live():
    example = "# A\n#ALLOWED_HOSTS=example.com\nSECRET_KEY=x\nPOSTGRES_PASSWORD=y\n"
    assert checks.missing_settings(example, "SECRET_KEY=z\n") == ["POSTGRES_PASSWORD"]
    assert checks.missing_settings(example, "SECRET_KEY=\nPOSTGRES_PASSWORD=\n") == []


def test_crlf_files_are_found(tmp_path):
    (tmp_path / "run.sh").write_bytes(b"#!/bin/sh\r\necho\r\n")
    (tmp_path / "compose.yml").write_bytes(b"services: {}\n")
    env = tmp_path / "elsewhere.env"
    env.write_bytes(b"A=1\r\n")
    assert checks.crlf_files(tmp_path, env) == ["run.sh", "elsewhere.env"]


@pytest.mark.parametrize(
    ("version", "ok"),
    [("2.24.4", True), ("v2.40.3", True), ("2.24.3", False), ("2.3", False), ("3.0.0-rc1", True)],
)
def test_compose_versions_compare_as_numbers(version, ok):
    assert checks.version_at_least(version, checks.MIN_COMPOSE) is ok


def test_docker_checks_say_what_is_missing(tmp_path, monkeypatch):
    from driver.runner import Done
    from fakes import FakeRunner, has

    runner = FakeRunner(tmp_path)
    monkeypatch.setattr(checks.shutil, "which", lambda name: None)
    with pytest.raises(Refused, match="docker is not installed"):
        checks.require_docker(runner)
    monkeypatch.setattr(checks.shutil, "which", lambda name: "/usr/bin/docker")
    runner.answer(has("info"), Done(1))
    with pytest.raises(Refused) as refused:
        checks.require_docker(runner)
    assert str(refused.value) == (
        "the Docker daemon is not reachable: start Docker (e.g. sudo systemctl start docker) "
        "or check DOCKER_HOST"
    )


def test_production_needs_only_the_settings_its_files_read():
    example = "SECRET_KEY=x\nPGADMIN_DEFAULT_PASSWORD=y\n"
    env_text = "SECRET_KEY=z\n"
    assert checks.missing_settings(example, env_text) == ["PGADMIN_DEFAULT_PASSWORD"]
    assert checks.missing_settings(example, env_text, read={"SECRET_KEY", "WEB_PORT"}) == []


@pytest.mark.parametrize(
    ("site", "names"),
    [
        ("localhost", ["localhost"]),
        (":80", []),
        ("example.com, www.example.com", ["example.com", "www.example.com"]),
        ("https://example.com:8443", ["example.com"]),
        ("192.0.2.1", ["192.0.2.1"]),
    ],
)
def test_the_names_caddy_serves_are_read_from_site_address(site, names):
    assert checks.site_names(site) == names


@pytest.mark.parametrize(
    ("site", "allowed", "problem"),
    [
        ("example.com", "example.com", None),
        ("example.com www.example.com", ".example.com", None),
        (":80", "", None),
        ("example.com", "*", None),
        (
            "shop.example.com",
            "example.com",
            "SITE_ADDRESS names shop.example.com, which ALLOWED_HOSTS lacks",
        ),
    ],
)
def test_a_site_name_django_would_refuse_is_a_problem(site, allowed, problem):
    found = checks.site_problem(site, allowed)
    assert (found is None) if problem is None else found.startswith(problem)
