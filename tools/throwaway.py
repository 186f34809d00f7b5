"""The throwaway stack: a copy of the repository with a Compose project,
ports and secrets of its own, driven the way a user drives it (sh run.sh).

The one harness of the end-to-end tests (tests/plugins/stack.py) and the
benchmark (tools/bench/). It never touches the checkout's own stack, data
or files; ``close()`` deletes the copy's containers, volumes, images and
folder, and nothing else.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from driver import envfile, modes, releases
from driver.proxy import WEB_PORT
from driver.rollout import SLOTS

REPO_DIR = Path(__file__).resolve().parent.parent
COMMAND_TIMEOUT = 900
FIXTURES = REPO_DIR / "tests" / "e2e" / "fixtures"

# What the TLS proxy in front of production adds to every request: the
# tests and the benchmark stand where it would (production_settings tells
# Django to trust the header).
THROUGH_PROXY = {"X-Forwarded-Proto": "https"}


def strong_secret() -> str:
    return envfile.new_secret_key()


def production_settings(behind_proxy: bool = True, **overrides: str) -> dict[str, str]:
    """Safe production values: a strong key and password, host names (tests
    send ``Host: example.com``), the proxy on loopback. ``behind_proxy``: the
    proxy speaks plain HTTP behind a TLS proxy that the tests play
    (THROUGH_PROXY); without it, it serves HTTPS for localhost itself."""
    site = (
        {"SITE_ADDRESS": ":80", "TRUSTED_PROXIES": "private_ranges"}
        if behind_proxy
        else {"SITE_ADDRESS": "localhost"}
    )
    return {
        "SECRET_KEY": strong_secret(),
        "POSTGRES_PASSWORD": secrets.token_urlsafe(24),
        "ALLOWED_HOSTS": "localhost,127.0.0.1,example.com",
        "PROXY_BIND_ADDRESS": "127.0.0.1",
        **site,
        **overrides,
    }


def clean_env(**overrides: str) -> dict[str, str]:
    """A minimal environment for run.sh and docker: settings come only from
    the env file, never from the calling process."""
    keep = ("PATH", "HOME", "DOCKER_HOST", "LANG", "TMPDIR")
    return {**{name: os.environ[name] for name in keep if name in os.environ}, **overrides}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def compose_defaults(root: Path = REPO_DIR) -> dict[str, str]:
    """``${NAME:-default}`` of the Compose files: the defaults' one home."""
    defaults: dict[str, str] = {}
    for name in dict.fromkeys([*modes.DEV_FILES, *modes.SWARM_FILES]):
        text = (root / name).read_text()
        for variable, default in re.findall(r"\$\{([A-Z][A-Z0-9_]*):-([^}$]*)\}", text):
            defaults.setdefault(variable, default)
    return defaults


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str
    seconds: float


class CommandFailed(AssertionError):
    pass


def run(
    command: list[str], cwd: Path, env: dict[str, str], check: bool, **kwargs: object
) -> Result:
    if "input" not in kwargs:  # no question waits for a keyboard
        kwargs.setdefault("stdin", subprocess.DEVNULL)
    start = time.monotonic()
    done = subprocess.run(
        command,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
        **kwargs,  # type: ignore[call-overload]
    )
    result = Result(done.returncode, done.stdout, done.stderr, time.monotonic() - start)
    if check and result.returncode != 0:
        raise CommandFailed(
            f"{' '.join(command[:4])} ... exited {result.returncode}:\n{result.stderr[-3000:]}"
        )
    return result


def copy_repository(target: Path, skip_prefix: str | None = None) -> None:
    """Copy the checkout's files (tracked and untracked, not ignored) to
    ``target``, plus this machine's compose.override.yml."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_DIR,
        capture_output=True,
        check=True,
    ).stdout.decode()
    names = [n for n in listed.split("\0") if n and not (skip_prefix and n.startswith(skip_prefix))]
    if (REPO_DIR / modes.OVERRIDE_FILE).exists():
        names.append(modes.OVERRIDE_FILE)  # this machine's build settings
    for name in names:
        source = REPO_DIR / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def _listed(args: list[str]) -> list[str]:
    """What a docker listing prints, one name a word."""
    done = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    return done.stdout.split()


def _remove(args: list[str], names: list[str]) -> None:
    if names:
        subprocess.run(["docker", *args, *names], capture_output=True, check=False)


class ThrowawayStack:
    """A copy of the repository in a temporary folder, as project ``<prefix><hex>``."""

    def __init__(self, prefix: str = "e2e", parent: Path | None = None):
        self.project = f"{prefix}{secrets.token_hex(4)}"
        self.tmp = Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir=parent))
        self.root = self.tmp / self.project
        self.root.mkdir()
        copy_repository(self.root, skip_prefix="tools/bench/results/")
        self.image = releases.latest(self.project)
        self.ports = {
            "HTTP_PORT": free_port(),
            "HTTPS_PORT": free_port(),
            "WEB_PORT": free_port(),
            "DEV_DB_PORT": free_port(),
            "PGADMIN_PORT": free_port(),
            "MAIL_PORT": free_port(),
            "HOST_WEB_PORT": free_port(),
        }
        self.settings: dict[str, str] = {}
        self.env: dict[str, str] = {}

    # -- settings --------------------------------------------------------------

    def write_env(self, **overrides: str) -> None:
        """.env from .env.example, its own project and ports, then ``overrides``."""
        self.env = {
            "COMPOSE_PROJECT_NAME": self.project,
            **{name: str(port) for name, port in self.ports.items()},
            **overrides,
        }
        self._write()

    def set_env(self, **values: str) -> None:
        """Change settings in .env (a value of None removes nothing: use "")."""
        self.env.update(values)
        self._write()

    def _write(self) -> None:
        example = (self.root / ".env.example").read_text()
        (self.root / ".env").write_text(envfile.with_values(example, self.env))
        live = envfile.values(example)
        self.settings = {**compose_defaults(self.root), **live, **self.env}

    # -- commands --------------------------------------------------------------

    def run_sh(self, *args: str, check: bool = True, **kwargs: object) -> Result:
        env = clean_env(BUILDKIT_PROGRESS="plain")
        return run(["sh", "run.sh", *args], self.root, env, check, **kwargs)

    def compose_command(self, mode: str, *args: str) -> list[str]:
        """The docker compose command line of ``mode``, to run with cwd=root."""
        command = ["docker", "compose"]
        for file in modes.compose_files(modes.BY_NAME[mode], self.root):
            command += ["-f", file.name]
        return [*command, *args]

    def compose(self, mode: str, *args: str, check: bool = True) -> Result:
        return run(self.compose_command(mode, *args), self.root, clean_env(), check)

    def psql(self, mode: str, sql: str) -> str:
        """Run SQL in the db container; the unaligned, tuples-only result."""
        user, db = self.settings["POSTGRES_USER"], self.settings["POSTGRES_DB"]
        result = self.compose(
            mode, "exec", "-T", "db", "psql", "-U", user, "-d", db, "-v", "ON_ERROR_STOP=1",
            "-tAc", sql,
        )  # fmt: skip
        return result.stdout.strip()

    def published(self, mode: str, service: str, port: int, index: int = 1) -> str:
        """host:port that Docker published for a container port."""
        result = self.compose(mode, "port", "--index", str(index), service, str(port))
        return result.stdout.strip()

    def url(self, mode: str, path: str) -> str:
        """URL of ``path`` at the port Docker published: production's proxy
        (plain HTTP), development's web."""
        if mode == "prod":
            return f"http://{self.published(mode, 'proxy', 80)}{path}"
        return f"http://{self.published(mode, 'web', 8000)}{path}"

    def web_url(self, path: str) -> str:
        """URL on production's HTTP port from .env: known even while it is down."""
        return f"http://127.0.0.1:{self.ports['HTTP_PORT']}{path}"

    def https_url(self, path: str) -> str:
        return f"https://localhost:{self.ports['HTTPS_PORT']}{path}"

    def caddy_root(self) -> Path:
        """The root certificate of the proxy's local CA (SITE_ADDRESS=localhost),
        as a file for a client's trust (requests' ``verify``, curl's --cacert)."""
        pem = self.compose(
            "prod", "exec", "-T", "proxy", "cat", "/data/caddy/pki/authorities/local/root.crt"
        ).stdout
        path = self.tmp / "caddy-root.crt"
        path.write_text(pem)
        return path

    def find_container(self, mode: str, service: str) -> dict | None:
        """docker inspect of the service's container; None when it has none."""
        ids = self.compose(mode, "ps", "--all", "-q", service).stdout.split()
        if not ids:
            return None
        output = subprocess.run(
            ["docker", "inspect", ids[0]], capture_output=True, text=True, check=True
        ).stdout
        return dict(json.loads(output)[0])

    def inspect(self, mode: str, service: str) -> dict:
        found = self.find_container(mode, service)
        if found is None:
            raise CommandFailed(f"no {service} container in project {self.project}")
        return found

    def web_service(self) -> str:
        """Production's web slot in service: web or web-alt (the first with a
        running container; else the first with any container, e.g. one
        being restarted after a crash)."""
        found = {slot: self.find_container("prod", slot) for slot in SLOTS}
        for slot, container in found.items():
            if container is not None and container["State"]["Running"]:
                return slot
        for slot, container in found.items():
            if container is not None:
                return slot
        raise CommandFailed(f"no web or web-alt container in project {self.project}")

    def gunicorn_url(self, path: str) -> str:
        """URL of ``path`` on gunicorn itself, around the proxy: the serving
        web container's address on the project's network (Linux hosts reach it)."""
        return f"http://{self.container_ip('prod', self.web_service())}:{WEB_PORT}{path}"

    def container_ip(self, mode: str, service: str) -> str:
        for network in self.inspect(mode, service)["NetworkSettings"]["Networks"].values():
            if network.get("IPAddress"):
                return str(network["IPAddress"])
        raise CommandFailed(f"{service} has no IP address on the project's network")

    def django_shell(self, code: str, mode: str = "prod") -> str:
        """Run Python ``code`` in Django in the mode's web container (in
        production, the slot in service); what it prints."""
        service = self.web_service() if mode == "prod" else "web"
        argv = ["python", "manage.py", "shell", "--no-imports", "-c", code]
        return self.compose(mode, "exec", "-T", service, *argv).stdout

    # -- files of the copy -----------------------------------------------------

    def add_fixture(self, name: str) -> None:
        """Copy a test-only module of tests/e2e/fixtures/ into the copy's
        catalog app (never shipped): importable as ``catalog.<stem>``."""
        shutil.copy(FIXTURES / name, self.root / "app" / "catalog" / name)

    def edit(self, relative: str, pattern: str, replacement: str) -> None:
        """Replace exactly one match of ``pattern`` in a file of the copy."""
        path = self.root / relative
        text, count = re.subn(pattern, replacement, path.read_text(), count=1, flags=re.MULTILINE)
        if count != 1:
            raise CommandFailed(f"{relative}: pattern {pattern!r} not found")
        path.write_text(text)

    def append(self, relative: str, line: str) -> None:
        with (self.root / relative).open("a") as file:
            file.write(line + "\n")

    # -- teardown --------------------------------------------------------------

    def close(self) -> None:
        """Delete this copy's containers, volumes, images and folder; nothing else."""
        # Every container the project label names goes, one-off ones too.
        label = f"label=com.docker.compose.project={self.project}"
        _remove(["rm", "--force"], _listed(["ps", "-aq", "--filter", label]))
        self.compose(
            "dev", "--profile", "*", "down", "--volumes", "--remove-orphans", "--timeout", "5",
            check=False,
        )  # fmt: skip
        # down with the dev files leaves db-prod-data: every volume the
        # project label still names goes too.
        _remove(["volume", "rm"], _listed(["volume", "ls", "-q", "--filter", label]))
        # The web image under every tag: :latest and the releases run.sh -0
        # tagged; then the other images Compose built for it (db, backup).
        image_ls = ["image", "ls", "--format", "{{.Repository}}:{{.Tag}}"]
        tags = _listed([*image_ls, self.image.split(":")[0]])
        _remove(["image", "rm"], tags or [self.image])
        _remove(["image", "rm"], _listed([*image_ls, "--filter", label]))
        shutil.rmtree(self.tmp, ignore_errors=True)
