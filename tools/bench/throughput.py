"""Throughput and latency of the web servers, measured with wrk."""

import json
import statistics
import sys

from tools.bench import cpu
from tools.bench.load import get, run_wrk

ENDPOINTS = {
    # A DB-backed view: 10 rows of the catalogue, newest first (indexed).
    "items": "/api/items/?limit=10",
    # Liveness: answered before any other middleware, no database.
    "healthz": "/healthz",
}
CONNECTIONS = (16, 64)
SEED_ROWS = 1000
WARMUP_SECONDS = 2


def seed(box, mode: str) -> int:
    """Give the catalogue SEED_ROWS rows (once) so the view reads real data."""
    box.psql(
        mode,
        "INSERT INTO catalog_item (name, description, created_at) "
        "SELECT 'item ' || g, repeat('lorem ipsum ', 8), now() - g * interval '1 second' "
        f"FROM generate_series(1, {SEED_ROWS} - (SELECT count(*) FROM catalog_item)) AS g",
    )
    return int(box.psql(mode, "SELECT count(*) FROM catalog_item"))


def check_endpoints(base_url: str, headers: dict | None = None) -> None:
    """Each endpoint answers 200 and the items view really returns rows."""
    status, body = get(base_url + ENDPOINTS["items"], headers=headers)
    items = json.loads(body)["items"]
    if status != 200 or len(items) != 10:
        raise RuntimeError(
            f"{base_url}: /api/items/ returned {status} with {len(items)} items, expected 10"
        )
    status, _ = get(base_url + ENDPOINTS["healthz"], headers=headers)
    if status != 200:
        raise RuntimeError(f"{base_url}: /healthz returned {status}")


def matrix(targets: dict[str, dict], reps: int, seconds: int) -> list[dict]:
    """wrk over every target x endpoint x connection count, ``reps`` times.

    A target is {"url": base URL, "pids": {"server": [...], "proxy": [...]},
    "headers": {...}} (pids and headers optional): the CPU time of those
    process trees during each run, per request, is recorded beside wrk's
    figures; the headers go with every request. Targets are interleaved within each
    repetition, so that drift in the machine's load spreads over all alike.
    """
    for target in targets.values():
        check_endpoints(target["url"], target.get("headers"))
        run_wrk(target["url"] + ENDPOINTS["items"], 16, WARMUP_SECONDS, target.get("headers"))
    runs = []
    for rep in range(reps):
        for endpoint, path in ENDPOINTS.items():
            for connections in CONNECTIONS:
                for name, target in targets.items():
                    print(
                        f"bench:   wrk {name} {endpoint} c={connections} rep {rep + 1}/{reps}",
                        file=sys.stderr,
                    )
                    groups = target.get("pids", {})
                    before = {group: cpu.tree_seconds(pids) for group, pids in groups.items()}
                    result = run_wrk(
                        target["url"] + path, connections, seconds, target.get("headers")
                    )
                    for group, pids in groups.items():
                        used = cpu.tree_seconds(pids) - before[group]
                        result[f"{group}_cpu_ms"] = (
                            round(1000 * used / result["requests"], 3)
                            if result["requests"]
                            else None
                        )
                    runs.append(
                        {
                            "target": name,
                            "endpoint": endpoint,
                            "connections": connections,
                            "rep": rep,
                            **result,
                        }
                    )
    return runs


def soak(base: str, seconds: int) -> dict:
    """The error budget: the DB-backed endpoint at 64 connections, one long run."""
    return {
        "target": "container",
        "endpoint": "items",
        "connections": 64,
        **run_wrk(base + ENDPOINTS["items"], 64, seconds),
    }


def summarise(runs: list[dict]) -> dict:
    """Medians over repetitions per target/endpoint/connections; errors summed."""
    groups: dict[tuple, list[dict]] = {}
    for run in runs:
        groups.setdefault((run["target"], run["endpoint"], run["connections"]), []).append(run)
    summary: dict = {}
    for (target, endpoint, connections), group in groups.items():
        summary.setdefault(target, {}).setdefault(endpoint, {})[str(connections)] = {
            "rps": round(statistics.median(run["rps"] for run in group), 1),
            "p50_ms": round(statistics.median(run["p50_ms"] for run in group), 2),
            "p99_ms": round(statistics.median(run["p99_ms"] for run in group), 2),
            "server_cpu_ms": _median_of(group, "server_cpu_ms"),
            "proxy_cpu_ms": _median_of(group, "proxy_cpu_ms"),
            "non2xx": sum(run["non2xx"] for run in group),
            "socket_errors": sum(run["socket_errors"] for run in group),
            "reps": len(group),
        }
    return summary


def _median_of(runs: list[dict], key: str) -> float | None:
    values = [run[key] for run in runs if run.get(key) is not None]
    return round(statistics.median(values), 3) if values else None


def ratios(summary: dict) -> dict:
    """Throughput ratios from the same run, per endpoint and connection
    count: container (through the proxy)/native, gunicorn (container, through
    the proxy)/runserver, and proxy/direct (the same container through the
    proxy and at its own address: what the proxy costs)."""
    pairs = {
        "container/native": ("container", "native"),
        "gunicorn/runserver": ("container", "runserver"),
        "proxy/direct": ("container", "direct"),
    }
    result: dict = {}
    for label, (top, bottom) in pairs.items():
        for endpoint in ENDPOINTS:
            for connections in map(str, CONNECTIONS):
                try:
                    numerator = summary[top][endpoint][connections]["rps"]
                    denominator = summary[bottom][endpoint][connections]["rps"]
                except KeyError:
                    continue
                if denominator:
                    result.setdefault(label, {}).setdefault(endpoint, {})[connections] = round(
                        numerator / denominator, 3
                    )
    return result
