"""run.sh argument handling and production pre-flight checks, under dash.

Each bad input must give one clear line, a non-zero exit, and start nothing:
the checks run before any container or volume is created. End to end: it
asks the Docker daemon that nothing was created (builds and starts nothing).
"""

import re
import shutil
import socket
import subprocess
import uuid

import pytest

from bad_input import USAGE_ERRORS
from tools.throwaway import REPO_DIR, clean_env, production_settings

pytestmark = pytest.mark.e2e


def run_sh(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["sh", str(REPO_DIR / "run.sh"), *args],
        env=clean_env(**(env or {})),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def containers_of(project: str) -> str:
    return subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={project}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def volumes_of(project: str) -> str:
    return subprocess.run(
        ["docker", "volume", "ls", "-q", "--filter", f"name={project}_"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_help_lists_every_command_with_its_description():
    result = run_sh("help")
    assert result.returncode == 0
    commands = [
        "up",
        "down",
        "logs",
        "ps",
        "manage",
        "superuser",
        "shell",
        "psql",
        "backup",
        "restore",
        "doctor",
        "install-service",
        "test",
        "lint",
        "reset",
        "help",
    ]
    for command in commands:
        assert re.search(rf"^  {command} +\S", result.stdout, re.MULTILINE), command
    for mode in ("-0, prod", "-1, dev", "-2, db", "-3, host"):
        assert mode in result.stdout


def test_no_arguments_prints_help():
    result = run_sh()
    assert result.returncode == 0
    assert result.stdout.startswith("Usage: sh run.sh")


@pytest.mark.parametrize(("args", "message"), USAGE_ERRORS)
def test_bad_arguments_exit_2_with_usage_on_stderr(args, message):
    result = run_sh(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert f"run.sh: {message}" in result.stderr
    assert "Usage: sh run.sh" in result.stderr


def test_down_refuses_to_delete_volumes():
    result = run_sh("down", "-v")
    assert result.returncode == 1
    assert "down never deletes volumes" in result.stderr


def test_unreachable_docker_is_one_clear_line():
    result = run_sh("-0", env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        (
            "run.sh: the Docker daemon is not reachable: start Docker "
            "(e.g. sudo systemctl start docker) or check DOCKER_HOST"
        )
    ]


def test_production_needs_an_env_file(tmp_path):
    result = run_sh("-0", env={"ENV_FILE": str(tmp_path / "missing.env")})
    assert result.returncode == 1
    assert "no " in result.stderr and "copy .env.example to .env" in result.stderr


def refused_production_start(tmp_path, **override: str) -> str:
    """Start production with safe settings plus ``override``; it must be
    refused in one line, with no container or volume created. That line."""
    project = f"runsh-{uuid.uuid4().hex[:8]}"
    values = {**production_settings(), **override, "COMPOSE_PROJECT_NAME": project}
    env_file = tmp_path / "prod.env"
    env_file.write_text("".join(f"{key}={value}\n" for key, value in values.items()))
    result = run_sh("-0", env={"ENV_FILE": str(env_file)})
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert containers_of(project) == ""
    assert volumes_of(project) == ""
    return lines[0]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY is not set"),
        (
            {"SECRET_KEY": "change-me-run-sh-writes-a-random-key-here"},
            "SECRET_KEY is a placeholder",
        ),
        ({"SECRET_KEY": "too-short"}, "SECRET_KEY is shorter than 50 characters"),
        ({"SECRET_KEY": "ab" * 30}, "SECRET_KEY has fewer than 5 distinct characters"),
        ({"ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS is empty"),
        ({"ALLOWED_HOSTS": " , "}, "ALLOWED_HOSTS is empty"),
        ({"POSTGRES_PASSWORD": ""}, "POSTGRES_PASSWORD is empty"),
        (
            {"POSTGRES_PASSWORD": "dev-password-not-for-production"},
            "POSTGRES_PASSWORD is the example value",
        ),
        ({"HTTP_PORT": "abc"}, "HTTP_PORT is not a valid port number or range (1-65535): 'abc'"),
        (
            {"HTTP_PORT": "8000-"},
            "HTTP_PORT is not a valid port number or range (1-65535): '8000-'",
        ),
        (
            {"HTTP_PORT": "70000"},
            "HTTP_PORT is not a valid port number or range (1-65535): '70000'",
        ),
        (
            {"HTTP_PORT": "9001-9000"},
            "HTTP_PORT is not a valid port number or range (1-65535): '9001-9000'",
        ),
        (
            {"HTTPS_PORT": "70000"},
            "HTTPS_PORT is not a valid port number or range (1-65535): '70000'",
        ),
    ],
)
def test_production_refuses_bad_settings_before_starting_anything(tmp_path, override, message):
    assert message in refused_production_start(tmp_path, **override)


def test_a_port_in_use_is_refused_before_starting_anything(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = refused_production_start(tmp_path, HTTP_PORT=str(port))
    assert f"port {port} (HTTP_PORT) is already in use by another program" in line


def test_a_crlf_damaged_run_sh_says_so_in_one_line(tmp_path):
    damaged = tmp_path / "run.sh"
    damaged.write_bytes((REPO_DIR / "run.sh").read_bytes().replace(b"\n", b"\r\n"))
    result = subprocess.run(
        ["sh", str(damaged), "-0"],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    expected = (
        f"run.sh: {damaged} has CRLF line endings; convert it: "
        f'sed -i "s/\\r$//" {damaged} (and git config core.autocrlf input)'
    )
    assert result.stderr.strip().splitlines() == [expected]


def test_install_service_prints_a_unit_that_runs_production(tmp_path):
    result = run_sh("install-service")
    assert result.returncode == 0
    unit = result.stdout
    assert f"ExecStart=/bin/sh {REPO_DIR}/run.sh -0\n" in unit
    assert f"WorkingDirectory={REPO_DIR}\n" in unit
    assert "Requires=docker.service" in unit and "WantedBy=multi-user.target" in unit
    assert "sudo sh run.sh install-service --install" in result.stderr
    if shutil.which("systemd-analyze"):
        unit_file = tmp_path / "stack.service"
        unit_file.write_text(unit)
        verify = subprocess.run(
            ["systemd-analyze", "verify", str(unit_file)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert "stack.service:" not in verify.stderr, verify.stderr


def test_malformed_env_file_is_reported_before_starting_anything(tmp_path):
    project = f"runsh-{uuid.uuid4().hex[:8]}"
    env_file = tmp_path / "broken.env"
    env_file.write_text(f"COMPOSE_PROJECT_NAME={project}\nSECRET_KEY='unterminated\n")
    result = run_sh("-0", env={"ENV_FILE": str(env_file)})
    assert result.returncode == 1
    assert result.stderr.startswith("run.sh: cannot read the settings:")
    assert containers_of(project) == ""
