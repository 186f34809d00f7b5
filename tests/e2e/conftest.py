"""The end-to-end harness: a throwaway copy of the repository, driven the way
a user drives it (sh run.sh ...), with its own Compose project and free ports,
so that it never touches the checkout's own stack, data or files.
"""

import contextlib
import json
import re
import secrets
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

from helpers import clean_env, copy_repository, free_port, remove_project_leftovers

COMMAND_TIMEOUT = 900


def free_port_pair() -> int:
    """A port p such that p and p + 1 are both free (for two web replicas)."""
    for _ in range(50):
        port = free_port()
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two adjacent free ports")


class Stack:
    def __init__(self, root: Path, project: str):
        self.root = root
        self.project = project
        self.ports = {
            "WEB_PORT": free_port_pair(),
            "DEV_DB_PORT": free_port(),
            "PGADMIN_PORT": free_port(),
            "HOST_WEB_PORT": free_port(),
        }
        self.settings: dict[str, str] = {}

    def write_env(self, **overrides: str) -> None:
        """.env from .env.example, with the given values replacing its live ones."""
        values = {
            "COMPOSE_PROJECT_NAME": self.project,
            **{name: str(port) for name, port in self.ports.items()},
            **overrides,
        }
        lines = []
        for line in (self.root / ".env.example").read_text().splitlines():
            name = line.split("=", 1)[0]
            if not line.startswith("#") and name in values:
                line = f"{name}={values[name]}"
            lines.append(line)
        (self.root / ".env").write_text("\n".join(lines) + "\n")
        self.settings = {
            line.split("=", 1)[0]: line.split("=", 1)[1]
            for line in lines
            if "=" in line and not line.startswith("#")
        }

    def run_sh(self, *args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
        result = subprocess.run(
            ["sh", "run.sh", *args],
            cwd=self.root,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            stdin=subprocess.DEVNULL,
            check=False,
            **kwargs,
        )
        if check and result.returncode != 0:
            pytest.fail(
                f"sh run.sh {' '.join(args)} exited {result.returncode}:\n{result.stderr[-3000:]}"
            )
        return result

    def compose_command(self, mode: str, *args: str) -> list[str]:
        """The docker compose command line of ``mode``, to run with cwd=root."""
        files = ["compose.yml"] if mode == "prod" else ["compose.yml", "compose.dev.yml"]
        if (self.root / "compose.override.yml").exists():
            files.append("compose.override.yml")
        command = ["docker", "compose"]
        for file in files:
            command += ["-f", file]
        return [*command, *args]

    def compose(self, mode: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.compose_command(mode, *args),
            cwd=self.root,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=check,
        )

    def psql(self, mode: str, sql: str) -> str:
        """Run SQL in the db container; the unaligned, tuples-only result."""
        user, db = self.settings["POSTGRES_USER"], self.settings["POSTGRES_DB"]
        result = self.compose(mode, "exec", "-T", "db", "psql", "-U", user, "-d", db, "-tAc", sql)
        return result.stdout.strip()

    def published(self, mode: str, service: str, port: int, index: int = 1) -> str:
        """host:port that Docker published for a container port."""
        result = self.compose(mode, "port", "--index", str(index), service, str(port))
        return result.stdout.strip()

    def url(self, mode: str, path: str) -> str:
        """URL of ``path`` on the web service, at the port Docker published."""
        return f"http://{self.published(mode, 'web', 8000)}{path}"

    def inspect(self, mode: str, service: str) -> dict:
        container = self.compose(mode, "ps", "-q", service).stdout.split()[0]
        output = subprocess.run(
            ["docker", "inspect", container], capture_output=True, text=True, check=True
        ).stdout
        return json.loads(output)[0]


def wait_for(check, timeout: float, interval: float = 0.5):
    """Poll ``check`` until it returns a truthy value; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except (requests.RequestException, ValueError) as error:
            last_error = error
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last error: {last_error})")


@contextlib.contextmanager
def throwaway_stack(tmp_path_factory):
    """A new copy of the repository with its own project; removed afterwards."""
    project = f"e2e{secrets.token_hex(4)}"
    root = tmp_path_factory.mktemp("stack") / project
    root.mkdir()
    copy_repository(root)
    copy = Stack(root, project)
    try:
        yield copy
    finally:
        # The copy's own throwaway volumes go with it; nothing else is touched.
        copy.compose(
            "dev", "--env-file", ".env", "down", "--volumes", "--remove-orphans", check=False
        )
        remove_project_leftovers(project)


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """The stack shared by test_dev.py and test_prod.py (one mode at a time)."""
    with throwaway_stack(tmp_path_factory) as copy:
        yield copy


def strong_secret() -> str:
    return secrets.token_urlsafe(50)


# Production redirects plain HTTP to HTTPS; the tests stand where its TLS
# proxy would, and say the visitor came over HTTPS in the header the stack
# is told to trust (production_settings).
THROUGH_PROXY = {"X-Forwarded-Proto": "https"}


def production_settings(**overrides: str) -> dict[str, str]:
    """Safe production values for a throwaway stack's .env, behind the proxy."""
    return {
        "SECRET_KEY": strong_secret(),
        "POSTGRES_PASSWORD": secrets.token_urlsafe(24),
        "ALLOWED_HOSTS": "localhost,127.0.0.1",
        "WEB_BIND_ADDRESS": "127.0.0.1",
        "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
        **overrides,
    }


def item_names(response: requests.Response) -> list[str]:
    return [item["name"] for item in response.json()["items"]]


def admin_css_path(login_page: str) -> str:
    match = re.search(r'href="(/static/admin/css/base\.[0-9a-f]{12}\.css)"', login_page)
    assert match, "the admin page links no hashed base.css"
    return match.group(1)
