"""A load client that counts every failed request: the measure of a deploy
that drops nothing (tests/e2e/test_deploys.py, the benchmark's deploy lines).

``Traffic`` runs ``connections`` threads, each on its own keep-alive
session, until stopped. Each request is a GET of the items API, a POST that
writes a row (its name kept once the server acknowledged it), or a GET that
takes ``slow_seconds`` on the server. The views are test fixtures
(tests/e2e/fixtures/fixture_traffic.py), added to a throwaway copy by
``install_views``; the product has no such endpoint.
"""

from __future__ import annotations

import random
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import requests

from tools.throwaway import ThrowawayStack

TIMEOUT = 30  # seconds: a request the proxy holds longer than this failed


def install_views(stack: ThrowawayStack) -> None:
    """Add the fixture views to the copy's catalog app, at /fixture/..."""
    stack.add_fixture("fixture_traffic.py")
    stack.append("app/config/urls.py", "from django.urls import include  # noqa: E402")
    stack.append(
        "app/config/urls.py",
        'urlpatterns.append(path("fixture/", include("catalog.fixture_traffic")))',
    )


def set_release(stack: ThrowawayStack, name: str) -> None:
    """A code change: the fixture views answer with this release name."""
    stack.edit("app/catalog/fixture_traffic.py", r'^RELEASE = "[^"]*"', f'RELEASE = "{name}"')


@dataclass
class Failure:
    at: float  # seconds since the start
    kind: str  # get | post | slow
    error: str


@dataclass
class Counts:
    requests: int = 0
    slow_done: int = 0
    failures: list[Failure] = field(default_factory=list)
    acknowledged: list[str] = field(default_factory=list)  # names of POSTed rows
    # time.monotonic() when each acknowledged row's response came, in step
    acknowledged_at: list[float] = field(default_factory=list)
    releases: set[str] = field(default_factory=set)  # as the responses named them
    # time.monotonic() of the first response from each release
    first_seen: dict[str, float] = field(default_factory=dict)
    # GETs of the items API: (time.monotonic() when sent, seconds taken)
    latencies: list[tuple[float, float]] = field(default_factory=list)

    def summary(self) -> str:
        shown = "; ".join(f"{f.at:.1f}s {f.kind}: {f.error}" for f in self.failures[:5])
        return (
            f"{self.requests} requests, {len(self.failures)} failed, "
            f"{len(self.acknowledged)} rows acknowledged, {self.slow_done} slow requests done"
            + (f" (first failures: {shown})" if shown else "")
        )


class Traffic:
    def __init__(
        self,
        base_url: str,
        verify: str | bool = True,
        connections: int = 8,
        slow_seconds: float = 2.0,
        slow_share: float = 0.1,
        keep_alive: bool = True,
        host: str = "",
        headers: dict[str, str] | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.verify = verify
        self.connections = connections
        self.slow_seconds = slow_seconds
        self.slow_share = slow_share  # of requests; POSTs are 0.2, GETs the rest
        self.headers = {**({"Host": host} if host else {}), **(headers or {})}
        if not keep_alive:  # a new connection per request
            self.headers["Connection"] = "close"
        self.counts = Counts()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.started = 0.0
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        self.started = time.monotonic()
        for number in range(self.connections):
            thread = threading.Thread(target=self.client, args=(number,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def stop(self) -> Counts:
        self.stopping.set()
        for thread in self.threads:
            thread.join(TIMEOUT + 5)
        return self.counts

    def client(self, number: int) -> None:
        session = requests.Session()
        # Not the environment's CA bundle or proxies: they would override
        # ``verify`` (requests' merge_environment_settings) or leave loopback.
        session.trust_env = False
        session.verify = self.verify
        session.headers.update(self.headers)
        chooser = random.Random(number)
        while not self.stopping.is_set():
            roll = chooser.random()
            kind = "post" if roll < 0.2 else "slow" if roll < 0.2 + self.slow_share else "get"
            self.one(session, kind)
            time.sleep(0.01)

    def one(self, session: requests.Session, kind: str) -> None:
        begun = time.monotonic()
        name = ""
        try:
            if kind == "post":
                name = f"traffic-{uuid.uuid4().hex}"
                response = session.post(
                    f"{self.base_url}/fixture/items/", data={"name": name}, timeout=TIMEOUT
                )
                expected = 201
            elif kind == "slow":
                response = session.get(
                    f"{self.base_url}/fixture/slow/?seconds={self.slow_seconds}", timeout=TIMEOUT
                )
                expected = 200
            else:
                response = session.get(f"{self.base_url}/api/items/?limit=5", timeout=TIMEOUT)
                expected = 200
            error = "" if response.status_code == expected else f"HTTP {response.status_code}"
            release = response.headers.get("X-Fixture-Release", "")
        except requests.RequestException as exc:
            error, release = re.sub(r"\s+", " ", f"{type(exc).__name__}: {exc}")[:300], ""
        ended = time.monotonic()
        with self.lock:
            counts = self.counts
            counts.requests += 1
            if kind == "get" and not error:
                counts.latencies.append((begun, ended - begun))
            if release:
                counts.releases.add(release)
                counts.first_seen.setdefault(release, ended)
            if error:
                counts.failures.append(Failure(begun - self.started, kind, error))
            elif kind == "post":
                counts.acknowledged.append(name)
                counts.acknowledged_at.append(ended)
            elif kind == "slow":
                counts.slow_done += 1


@contextmanager
def traffic(base_url: str, **options: object) -> Iterator[Traffic]:
    """Load for the duration of a ``with`` block; read ``.counts`` after it."""
    load = Traffic(base_url, **options)  # type: ignore[arg-type]
    load.start()
    try:
        yield load
    finally:
        load.stop()


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
