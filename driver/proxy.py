"""The proxy (Caddy, docker/caddy/Caddyfile) as deploys drive it.

Caddy sends each request to the first web slot whose /readyz answers (its
active health checks), so a deploy moves traffic without touching Caddy's
configuration: it starts the new slot, and drains the old one. What the
driver asks of Caddy is a graceful reload when the Caddyfile was edited,
and how many requests it has in flight to a slot. The builders are pure.
"""

from __future__ import annotations

import json
import time

from driver.console import say
from driver.runner import Argv, Runner

CADDYFILE = "/etc/caddy/Caddyfile"
# The media server's (compose.yml, service media): Caddy too, reloaded alike.
MEDIA_CADDYFILE = "/etc/caddy/media.Caddyfile"
WEB_PORT = 8000  # gunicorn's port inside the web containers
# Caddy's admin endpoint, inside the proxy container only.
UPSTREAMS_URL = "http://127.0.0.1:2019/reverse_proxy/upstreams"
# wget is in the official image (BusyBox): GET a URL, fail on an error status.
WGET = ("wget", "-q", "-T", "3", "-O")
# The Caddyfile's health checks: a slot is taken after one passing check
# and dropped after three failing ones, a second apart.
HEALTH_INTERVAL, HEALTH_FAILS = 1.0, 3


def in_container(container: str, *args: str) -> Argv:
    """``args`` in the running proxy container (docker exec: no Compose
    start-up per call, which the readiness polling repeats)."""
    return ["docker", "exec", container, *args]


def reload_argv(container: str, config: str = CADDYFILE) -> Argv:
    """Reload a Caddyfile gracefully (a no-op when nothing in it changed)."""
    return in_container(container, "caddy", "reload", "--config", config, "--adapter", "caddyfile")


def ready_argv(container: str, host: str) -> Argv:
    """A web slot's readiness (/readyz, which queries the database), asked
    from the proxy's container: as Caddy's health checks reach it."""
    return in_container(container, *WGET, "/dev/null", f"http://{host}:{WEB_PORT}/readyz")


def upstreams_argv(container: str) -> Argv:
    return in_container(container, *WGET, "-", UPSTREAMS_URL)


def in_flight(upstreams_json: str, slot: str) -> int:
    """Requests Caddy has in flight to a slot (its admin API's
    /reverse_proxy/upstreams: one entry per upstream address)."""
    try:
        entries = json.loads(upstreams_json or "[]")
    except ValueError:
        return 0
    return sum(
        int(entry.get("num_requests", 0))
        for entry in entries
        if isinstance(entry, dict) and entry.get("address") == f"{slot}:{WEB_PORT}"
    )


class Proxy:
    """The running proxy container ``container``."""

    def __init__(self, runner: Runner, container: str, config: str = CADDYFILE):
        self.runner = runner
        self.container = container
        self.config = config

    def reload(self) -> bool:
        done = self.runner.run(reload_argv(self.container, self.config), quiet=True)
        if not done.ok:
            name = "the proxy" if self.config == CADDYFILE else self.config
            say(f"{name} did not reload: {(done.stderr or done.stdout).strip()[-500:]}")
        return done.ok

    def sees_ready(self, host: str) -> bool:
        return self.runner.run(ready_argv(self.container, host), quiet=True).ok

    def drain(self, slot: str, timeout: float) -> float:
        """Wait until Caddy has dropped ``slot`` (three failed checks) and has
        no request in flight to it, at most ``timeout`` seconds; the seconds
        it took."""
        started = time.monotonic()
        time.sleep(HEALTH_INTERVAL * HEALTH_FAILS)
        while time.monotonic() - started < timeout:
            done = self.runner.run(upstreams_argv(self.container), quiet=True)
            if done.ok and in_flight(done.stdout, slot) == 0:
                break
            time.sleep(0.2)
        return time.monotonic() - started
