"""A Runner that runs nothing: it records every argv and answers from a script.

The driver's tests use it instead of Docker (tests/plugins/isolation.py
fails any of them that starts a docker process anyway).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from driver.project import Project
from driver.runner import Done, Runner

Match = Callable[[list[str]], bool]


def has(*words: str) -> Match:
    """Matches an argv that contains every one of ``words`` (in any order)."""
    return lambda argv: all(word in argv for word in words)


def ends(*words: str) -> Match:
    """Matches an argv that ends with ``words``."""
    return lambda argv: argv[-len(words) :] == list(words)


class FakeRunner(Runner):
    def __init__(self, cwd: Path, answers: list[tuple[Match, Done]] | None = None):
        super().__init__(cwd, env={"PATH": "/nonexistent"})
        self.answers = answers or []
        self.outputs: list[tuple[Match, bytes]] = []
        self.calls: list[list[str]] = []
        self.stdins: list[Path] = []

    def answer(self, match: Match, done: Done) -> None:
        """Answer argv that ``match`` accepts with ``done`` (the first one listed wins)."""
        self.answers.append((match, done))

    def _reply(self, argv: list[str]) -> Done:
        self.calls.append(argv)
        for match, done in self.answers:
            if match(argv):
                return done
        return Done(0)

    def write(self, match: Match, data: bytes) -> None:
        """What argv that ``match`` accepts writes to its stdout file, whatever its
        exit status (else a fake dump when it succeeds)."""
        self.outputs.append((match, data))

    def run(
        self, argv, *, capture=True, quiet=False, stdin=None, stdout=None, env=None, timeout=None
    ):  # type: ignore[no-untyped-def]
        done = self._reply(argv)
        if stdin is not None:
            self.stdins.append(Path(stdin))
        if stdout is not None:  # what write() gave, whatever the status; else a dump if ok
            data = next((d for match, d in self.outputs if match(argv)), None)
            if data is None and done.ok:
                data = b"PGDMP fake archive"
            if data is not None:
                Path(stdout).write_bytes(data)
        return done

    def attach(self, argv: list[str]) -> int:
        return self._reply(argv).returncode

    def ran(self, *words: str) -> list[list[str]]:
        """The recorded argv that contain every one of ``words``."""
        return [argv for argv in self.calls if has(*words)(argv)]


PROXY = "pr0xy\t/proj-proxy-1\trunning\tsha256:caddy\t0\th-proxy\tproxy"
MEDIA = "med1a\t/proj-media-1\trunning\tsha256:caddy\t0\th-media\tmedia"


def proxy_running(runner: FakeRunner) -> None:
    """The proxy's and the media server's containers run, up to date (their
    config hashes are Compose's)."""
    runner.answer(has("label=com.docker.compose.service=proxy"), Done(0, "pr0xy\n"))
    runner.answer(has("docker", "inspect", "pr0xy"), Done(0, PROXY + "\n"))
    runner.answer(has("label=com.docker.compose.service=media"), Done(0, "med1a\n"))
    runner.answer(has("docker", "inspect", "med1a"), Done(0, MEDIA + "\n"))
    runner.answer(has("config", "--hash", "*"), Done(0, "proxy h-proxy\nmedia h-media\n"))


def config(project: str = "proj", **overrides: object) -> dict:
    """A resolved Compose model as `docker compose config --format json` gives it."""
    model: dict = {
        "name": project,
        "services": {
            "db": {
                "environment": {
                    "POSTGRES_DB": "app",
                    "POSTGRES_USER": "app",
                    "POSTGRES_PASSWORD": "s3cret",
                }
            },
            "web": {
                "environment": {
                    "SECRET_KEY": "k7Qx2vLp9sTz4mWc8rYb1nHd6fJg3aKe5uVo0iXq-ZsPlMnBcDe",
                    "ALLOWED_HOSTS": "example.com",
                    "POSTGRES_PASSWORD": "s3cret",
                    "DATABASE_URL": "",
                    "SECURE_SSL_REDIRECT": "",
                },
                "ports": [{"host_ip": "127.0.0.1", "published": "8000", "target": 8000}],
            },
        },
        "x-driver": {"backup_dir": "./backups", "backup_keep": "10"},
    }
    model.update(overrides)
    return model


def project_with(
    tmp_path: Path, model: dict | None = None, env_text: str = "SECRET_KEY=x\n"
) -> tuple[Project, FakeRunner]:
    """A project in ``tmp_path`` (an env file, .env.example) whose
    `docker compose config` answers ``model``; docker looks installed."""
    (tmp_path / ".env").write_text(env_text)
    (tmp_path / ".env.example").write_text("SECRET_KEY=change-me\n")
    runner = FakeRunner(tmp_path)
    runner.answer(has("config", "--format", "json"), Done(0, json.dumps(model or config())))
    return Project(tmp_path, tmp_path, runner), runner
