"""Putting a web image in service without dropping a request.

Web has two slots, the services web and web-alt (compose.yml). The new
release starts in the idle one while the old one serves; the proxy sends
requests to the first slot whose /readyz answers (docker/caddy/Caddyfile),
so the new one is served only once it is ready. Then the old one drains: its
/readyz says 503, Caddy stops sending it requests, those in flight finish
(up to GUNICORN_GRACEFUL_TIMEOUT), and it is stopped. A release that never
gets ready is removed and was never served.

Then the workers move to the release: Compose stops each one whose image or
settings changed (it finishes its running tasks first, WORKER_GRACE) and
starts its replacement; tasks enqueued meanwhile wait in the queue.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import NoReturn

from driver import compose, releases
from driver.console import Refused, say
from driver.project import Project
from driver.proxy import CADDYFILE, MEDIA_CADDYFILE, Proxy
from driver.runner import Argv

HASH_LABEL = "com.docker.compose.config-hash"
INSPECT_FORMAT = (
    "{{.Id}}\t{{.Name}}\t{{.State.Status}}\t{{.Image}}\t{{.RestartCount}}\t"
    '{{index .Config.Labels "' + HASH_LABEL + '"}}\t'
    '{{index .Config.Labels "com.docker.compose.service"}}'
)
LOG_LINES = 30
SLOTS = ("web", "web-alt")
# Three of the worker's health checks (compose.yml: every 10 s) and its
# heartbeat's 15 s: long enough for a worker whose loop stalled to pass again.
WORKER_RECOVERY_WAIT = 45


def other_slot(slot: str) -> str:
    return SLOTS[1 - SLOTS.index(slot)]


@dataclass(frozen=True)
class Container:
    id: str
    name: str  # also its host name on the stack's network
    status: str  # running, exited, restarting, ...
    image_id: str
    restarts: int
    config_hash: str
    service: str  # web, web-alt or worker


def service_ids_argv(project: str, service: str) -> Argv:
    return [
        "docker", "ps", "--all", "--quiet",
        "--filter", f"label=com.docker.compose.project={project}",
        "--filter", f"label=com.docker.compose.service={service}",
    ]  # fmt: skip


def inspect_argv(ids: list[str]) -> Argv:
    return ["docker", "inspect", "--format", INSPECT_FORMAT, *ids]


HEALTH_FORMAT = "{{if .State.Health}}{{.State.Health.Status}}{{end}}"


def health_argv(ids: list[str]) -> Argv:
    """Each container's health (healthy, unhealthy, starting; empty: no check)."""
    return ["docker", "inspect", "--format", HEALTH_FORMAT, *ids]


def parse_containers(output: str) -> list[Container]:
    found = []
    for line in output.splitlines():
        fields = line.split("\t")
        if len(fields) != 7:
            continue
        cid, name, status, image_id, restarts, config_hash, service = fields
        found.append(
            Container(
                cid, name.lstrip("/"), status, image_id, int(restarts or 0), config_hash, service
            )
        )
    return found


def config_hash(output: str, service: str) -> str:
    """The hash in ``docker compose config --hash SERVICE``'s output."""
    for line in output.splitlines():
        name, _, value = line.strip().partition(" ")
        if name == service:
            return value.strip()
    return ""


def up_to_date(running: list[Container], image_id: str, wanted_hash: str) -> bool:
    """Every running container runs this image with this configuration."""
    return bool(running) and all(
        c.image_id == image_id and c.config_hash == wanted_hash for c in running
    )


def stop_seconds(graceful_timeout: str) -> int:
    """docker stop's wait: gunicorn's graceful timeout and a margin."""
    return (int(graceful_timeout) if graceful_timeout.isdigit() else 30) + 5


class Rollout:
    def __init__(self, project: Project):
        self.project = project
        self.runner = project.runner
        self.compose = project.compose
        settings = project.settings
        self.ready_timeout = int(settings.driver.get("ready_timeout", "60") or 60)
        self.graceful = settings.web.get("GUNICORN_GRACEFUL_TIMEOUT", "30")
        self._hashes: dict[str, str] | None = None

    # -- what runs -------------------------------------------------------------

    def containers(self, service: str = "web") -> list[Container]:
        ids = self.runner.run(
            service_ids_argv(self.project.settings.project, service), quiet=True
        ).stdout.split()
        if not ids:
            return []
        return parse_containers(self.runner.run(inspect_argv(ids), quiet=True).stdout)

    def running(self, service: str) -> list[Container]:
        return [c for c in self.containers(service) if c.status == "running"]

    def serving(self) -> list[Container]:
        """The running containers of the slot in service (none: [])."""
        for slot in SLOTS:
            running = self.running(slot)
            if running:
                return running
        return []

    def wanted_hash(self, service: str) -> str:
        """Compose's hash of the service as the files and .env describe it now
        (what its container's label must say to be up to date)."""
        if self._hashes is None:
            argv = self.compose("--profile", "deploy", "config", "--hash", "*")
            output = self.runner.run(argv, quiet=True).stdout
            names = (*SLOTS, "proxy", "media")
            self._hashes = {name: config_hash(output, name) for name in names}
        return self._hashes.get(service, "")

    def image_id(self, image: str) -> str:
        return self.runner.run(compose.image_id(image), quiet=True).stdout.strip()

    # -- the proxy -------------------------------------------------------------

    def proxy(self) -> Proxy | None:
        """The running proxy, if any (a stack has one proxy container)."""
        running = self.running("proxy")
        return Proxy(self.runner, running[0].id) if running else None

    def ensure_proxy(self) -> Proxy:
        """Start the media server and the proxy, or bring running ones up to
        date: an edited Caddyfile by a graceful reload; changed settings or
        ports (the container itself) by Compose, which recreates it."""
        self.ensure_caddy("media", MEDIA_CADDYFILE, "MEDIA_CACHE_CONTROL")
        return self.ensure_caddy("proxy", CADDYFILE, "SITE_ADDRESS, ACME_EMAIL, TRUSTED_PROXIES")

    def ensure_caddy(self, service: str, config: str, settings: str) -> Proxy:
        """One of the Caddy services (proxy, media) started or up to date."""
        running = self.running(service)
        if running and running[0].config_hash == self.wanted_hash(service):
            current = Proxy(self.runner, running[0].id, config)
            current.reload()
            return current
        if running:
            say(
                f"the {service} service's settings changed ({settings}, its ports or "
                "compose.yml): Compose recreates it, closing open connections"
            )
        if not self.runner.run(self.compose.up("--no-deps", service), capture=False).ok:
            raise Refused(f"{service} did not start (above; sh run.sh -0 logs {service})")
        started = self.running(service)
        if not started:
            raise Refused(f"{service} is not running after its start (sh run.sh -0 logs {service})")
        return Proxy(self.runner, started[0].id, config)

    # -- the switch ------------------------------------------------------------

    def slots(self) -> dict[str, list[Container]]:
        """The running containers of each slot (stopped ones are removed)."""
        found: dict[str, list[Container]] = {}
        for slot in SLOTS:
            containers = self.containers(slot)
            for gone in [c for c in containers if c.status != "running"]:
                self.runner.run(["docker", "rm", "--force", gone.id], quiet=True)
            found[slot] = [c for c in containers if c.status == "running"]
        return found

    def run(self) -> None:
        """Put ``<project>-web:latest`` in service: web, then the workers."""
        self.put_web_in_service()
        self.ensure_workers()

    def ensure_workers(self) -> None:
        """The workers (WORKER_REPLICAS) on the image and settings of now:
        Compose replaces those that differ, each after its running tasks end,
        and leaves the others."""
        self.await_recovering_workers()
        if not self.runner.run(self.compose.up("--no-deps", "worker"), capture=False).ok:
            raise Refused(
                "the worker did not start or get healthy (above; sh run.sh -0 logs worker); "
                "web is in service and tasks wait in the queue until a worker runs"
            )

    def await_recovering_workers(self) -> None:
        """A running worker marked unhealthy (its loop stalled while db was
        away, say) gets WORKER_RECOVERY_WAIT seconds to pass its health check
        again: Compose's --wait fails at once on a stale unhealthy mark."""
        deadline = time.monotonic() + WORKER_RECOVERY_WAIT
        said = False
        while time.monotonic() < deadline:
            ids = [c.id for c in self.running("worker")]
            if not ids:
                return
            health = self.runner.run(health_argv(ids), quiet=True).stdout.split()
            if "unhealthy" not in health:
                return
            if not said:
                say("the worker is unhealthy: waiting for its next health checks")
                said = True
            time.sleep(1)

    def put_web_in_service(self) -> None:
        slots = self.slots()
        image_id = self.image_id(releases.latest(self.project.settings.project))
        serving = [slot for slot in SLOTS if slots[slot]]
        if not serving:  # a first start: the proxy alongside (Compose leaves a current one)
            argv = self.compose.up(
                "--remove-orphans", "--no-deps", "web", "worker", "media", "proxy"
            )
            if not self.runner.run(argv, capture=False).ok:
                self.project.up_failed()
            self.ensure_proxy()
            return
        proxy = self.ensure_proxy()
        if len(serving) == 2:  # an interrupted deploy: keep web, drain web-alt
            self.retire(proxy, "web-alt", slots["web-alt"])
        old = serving[0]
        if up_to_date(slots[old], image_id, self.wanted_hash(old)):
            say(f"web is up to date in {old} (same image and settings): nothing to switch")
            return
        self.switch(proxy, old, slots[old])

    def switch(self, proxy: Proxy, old_slot: str, old: list[Container]) -> None:
        started = time.monotonic()
        new_slot = other_slot(old_slot)
        argv = self.compose("up", "--detach", "--no-deps", "--force-recreate", new_slot)
        if not self.runner.run(argv, capture=False).ok:
            self.abandon(self.containers(new_slot), "its container did not start")
        new = self.containers(new_slot)
        if not new:
            self.abandon([], f"Compose started no {new_slot} container")
        problem = self.wait_ready(proxy, new_slot, new)
        if problem:
            self.abandon(new, problem)
        say(f"new release ready in {new_slot} {time.monotonic() - started:.1f} s after its start")
        # Caddy checks both slots at each tick: its next one takes the new
        # slot, ticks before the old one has failed three times and is dropped.
        drained = self.retire(proxy, old_slot, old)
        say(
            f"traffic moved from {old_slot} to {new_slot}; {old_slot} drained in "
            f"{drained:.1f} s and stopped; switch took {time.monotonic() - started:.1f} s"
        )

    def retire(self, proxy: Proxy, slot: str, containers: list[Container]) -> float:
        """Drain a slot (the proxy stops sending it requests and waits for
        those in flight), then stop and remove it; the seconds of the drain."""
        drain_file = self.project.settings.web.get("WEB_DRAIN_FILE", "")
        ids = [c.id for c in containers]
        for cid in ids:
            self.runner.run(["docker", "exec", cid, "touch", drain_file], quiet=True)
        drained = proxy.drain(slot, float(stop_seconds(self.graceful) - 5))
        stop = ["docker", "stop", "--time", str(stop_seconds(self.graceful)), *ids]
        self.runner.run(stop, quiet=True)
        self.runner.run(["docker", "rm", "--force", *ids], quiet=True)
        return drained

    def wait_ready(self, proxy: Proxy, slot: str, new: list[Container]) -> str:
        """'' once the proxy's container sees the slot ready; else the problem."""
        deadline = time.monotonic() + self.ready_timeout
        while not proxy.sees_ready(slot):
            current = {c.id: c for c in self.containers(slot)}
            for container in new:
                now = current.get(container.id)
                if now is None or now.restarts > 0 or now.status in ("exited", "dead"):
                    return f"{container.name} exited before it was ready"
            if time.monotonic() > deadline:
                return (
                    f"{slot} was not ready (/readyz) within {self.ready_timeout} s "
                    "(DEPLOY_READY_TIMEOUT)"
                )
            time.sleep(0.5)
        return ""

    def abandon(self, new: list[Container], problem: str) -> NoReturn:
        """Remove the new containers, keep the old ones serving, and say why."""
        if new:
            tail = self.runner.run(
                ["docker", "logs", "--tail", str(LOG_LINES), new[0].id], quiet=True
            )
            say(f"last lines of {new[0].name}'s log:")
            print((tail.stdout + tail.stderr).rstrip(), file=sys.stderr)
            self.runner.run(["docker", "rm", "--force", *[c.id for c in new]], quiet=True)
        raise Refused(
            f"DEPLOY FAILED: the new release was never served: {problem}. Its container was "
            "removed and the previous one kept serving every request. Migrations this "
            "deploy applied stay applied (the plan refuses those the previous release "
            "cannot run on, unless --allow-breaking). Fix the release, then deploy again "
            "with sh run.sh -0."
        )
