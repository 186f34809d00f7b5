"""A throwaway copy of the repository with its own Compose project.

The benchmark never touches the checkout's own stack, data or files: it
copies the tracked files to a temporary folder, writes a production-grade
.env there (fresh secrets, free loopback ports, its own project name) and
drives that copy through ``sh run.sh`` like a user would. ``close()``
deletes the copy's containers, volumes and image, and nothing else.
"""

import json
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import REPO_DIR, clean_env, copy_repository, free_port, remove_project_leftovers

# What the TLS proxy in front of production adds to every request.
PROXY_HEADERS = {"X-Forwarded-Proto": "https"}
COMMAND_TIMEOUT = 900


@dataclass
class Timed:
    seconds: float
    returncode: int
    stdout: str
    stderr: str


def run_timed(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> Timed:
    start = time.monotonic()
    result = subprocess.run(
        command,
        cwd=cwd,
        env=env if env is not None else clean_env(),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    return Timed(time.monotonic() - start, result.returncode, result.stdout, result.stderr)


class CommandFailed(RuntimeError):
    pass


class Sandbox:
    def __init__(self, settings: dict[str, str] | None = None):
        self.project = f"bench{secrets.token_hex(3)}"
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-"))
        self.root = self.tmp / self.project
        self.root.mkdir()
        self._copy()
        self.ports = {
            name: free_port()
            for name in ("WEB_PORT", "DEV_DB_PORT", "PGADMIN_PORT", "HOST_WEB_PORT")
        }
        self.settings = self._write_env(settings or {})
        self.image = f"{self.project}-web:latest"

    # -- setup -------------------------------------------------------------

    def _copy(self) -> None:
        copy_repository(self.root, skip_prefix="bench/results/")
        # The host .venv is reused (run.sh test keeps it in step with the
        # requirements), so that `run.sh test` is timed warm.
        if (REPO_DIR / ".venv").is_dir():
            (self.root / ".venv").symlink_to(REPO_DIR / ".venv")

    def _write_env(self, overrides: dict[str, str]) -> dict[str, str]:
        """.env from .env.example: strong production values, loopback ports,
        then ``overrides`` (settings under comparison, e.g. GUNICORN_THREADS)."""
        values = {
            "COMPOSE_PROJECT_NAME": self.project,
            "SECRET_KEY": secrets.token_urlsafe(50),
            "POSTGRES_PASSWORD": secrets.token_urlsafe(24),
            "ALLOWED_HOSTS": "localhost,127.0.0.1",
            "WEB_BIND_ADDRESS": "127.0.0.1",
            # Production behind a TLS proxy: the benchmark plays the proxy
            # and sends PROXY_HEADERS (otherwise every request is redirected).
            "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
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
        return {
            line.split("=", 1)[0]: line.split("=", 1)[1]
            for line in lines
            if "=" in line and not line.startswith("#")
        }

    # -- commands ------------------------------------------------------------

    def env(self, **extra: str) -> dict[str, str]:
        return clean_env(BUILDKIT_PROGRESS="plain", **extra)

    def run_sh(self, *args: str, check: bool = True) -> Timed:
        result = run_timed(["sh", "run.sh", *args], self.root, self.env())
        if check and result.returncode != 0:
            raise CommandFailed(
                f"sh run.sh {' '.join(args)} exited {result.returncode}:\n{result.stderr[-2000:]}"
            )
        return result

    def compose_files(self, mode: str) -> list[str]:
        files = ["compose.yml"] if mode == "prod" else ["compose.yml", "compose.dev.yml"]
        if (self.root / "compose.override.yml").exists():
            files.append("compose.override.yml")
        return files

    def compose(self, mode: str, *args: str, check: bool = True) -> Timed:
        command = ["docker", "compose", "--env-file", ".env"]
        for file in self.compose_files(mode):
            command += ["-f", file]
        result = run_timed([*command, *args], self.root, self.env())
        if check and result.returncode != 0:
            raise CommandFailed(
                f"docker compose {' '.join(args)} exited {result.returncode}:\n{result.stderr[-2000:]}"
            )
        return result

    def psql(self, mode: str, sql: str) -> str:
        user, db = self.settings["POSTGRES_USER"], self.settings["POSTGRES_DB"]
        return self.compose(
            mode,
            "exec",
            "-T",
            "db",
            "psql",
            "-U",
            user,
            "-d",
            db,
            "-v",
            "ON_ERROR_STOP=1",
            "-tAc",
            sql,
        ).stdout.strip()

    def container(self, mode: str, service: str) -> dict:
        found = self.find_container(mode, service)
        if found is None:
            raise CommandFailed(f"no {service} container in project {self.project}")
        return found

    def find_container(self, mode: str, service: str) -> dict | None:
        """docker inspect of the service's container; None when it has none
        (a one-off service run with --rm leaves none)."""
        ids = self.compose(mode, "ps", "--all", "-q", service).stdout.split()
        if not ids:
            return None
        output = subprocess.run(
            ["docker", "inspect", ids[0]], capture_output=True, text=True, check=True
        ).stdout
        return json.loads(output)[0]

    def container_ip(self, mode: str, service: str) -> str:
        networks = self.container(mode, service)["NetworkSettings"]["Networks"]
        for network in networks.values():
            if network.get("IPAddress"):
                return network["IPAddress"]
        raise CommandFailed(f"{service} has no IP address on the project's network")

    def web_url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.ports['WEB_PORT']}{path}"

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
        """Delete this copy's containers, volumes, image and folder; nothing else."""
        self.compose("dev", "down", "--volumes", "--remove-orphans", "--timeout", "5", check=False)
        remove_project_leftovers(self.project)
        shutil.rmtree(self.tmp, ignore_errors=True)
