"""The deploy lines: code-change deploys of the production stack under load.

``measure`` runs a steady load (tools/traffic.py: keep-alive connections,
GETs and POSTs that write rows) through the proxy, first alone
for a baseline, then across ``deploys`` consecutive code-change deploys,
and reports the failed requests, each deploy's wall time, the time from the
new release being ready (as run.sh says it) to its first response, and the
p99 latency of the items API during deploys against the baseline.
"""

from __future__ import annotations

import subprocess
import time

from tools import traffic
from tools.throwaway import THROUGH_PROXY, ThrowawayStack, clean_env

READY_LINE = "new release ready in"


def timed_deploy(box: ThrowawayStack) -> tuple[int, float, float | None, str]:
    """``sh run.sh -0``: exit status, wall seconds, time.monotonic() when it
    said the new release was ready (None if it never did), and its stderr."""
    started = time.monotonic()
    process = subprocess.Popen(
        ["sh", "run.sh", "-0"],
        cwd=box.root,
        env=clean_env(BUILDKIT_PROGRESS="plain"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    ready_at = None
    lines = []
    assert process.stderr is not None
    for line in process.stderr:
        lines.append(line)
        if ready_at is None and READY_LINE in line:
            ready_at = time.monotonic()
    returncode = process.wait()
    return returncode, time.monotonic() - started, ready_at, "".join(lines[-20:])


def p99_ms(latencies: list[tuple[float, float]], windows: list[tuple[float, float]], inside: bool):
    """p99 in ms of the latencies sent inside (or outside) the time windows."""
    chosen = [
        seconds
        for sent, seconds in latencies
        if any(start <= sent <= end for start, end in windows) == inside
    ]
    return round(traffic.percentile(chosen, 0.99) * 1000, 1) if chosen else None


def summarise(deploys: list[dict], counts: traffic.Counts, baseline_until: float) -> dict:
    windows = [(d["started"], d["started"] + d["wall_s"]) for d in deploys]
    steady = [(sent, s) for sent, s in counts.latencies if sent < baseline_until]
    to_first = [d["ready_to_served_s"] for d in deploys if d["ready_to_served_s"] is not None]
    walls = sorted(d["wall_s"] for d in deploys)
    return {
        "deploys": len(deploys),
        "failed_deploys": sum(1 for d in deploys if d["returncode"] != 0),
        "requests": counts.requests,
        "failed_requests": len(counts.failures),
        "failures": [f"{f.kind}: {f.error}" for f in counts.failures[:10]],
        "wall_s": {"median": walls[len(walls) // 2], "max": walls[-1]} if walls else None,
        "ready_to_served_s": {"max": max(to_first), "median": sorted(to_first)[len(to_first) // 2]}
        if to_first
        else None,
        "p99_ms": {
            "steady": p99_ms(steady, [(0.0, baseline_until)], inside=True),
            "deploying": p99_ms(counts.latencies, windows, inside=True),
        },
        "runs": [{k: v for k, v in d.items() if k != "started"} for d in deploys],
    }


def measure(box: ThrowawayStack, url: str, deploys: int, baseline_s: float) -> dict:
    """Deploy ``deploys`` code changes under load; see the module docstring.
    The stack must be up with the traffic views installed (traffic.install_views),
    its proxy on plain HTTP behind the TLS proxy the load client plays."""
    runs: list[dict] = []
    # No 2 s requests here (the e2e tests have them): they would hold
    # gunicorn's threads and the p99s would measure that queue, not the deploy.
    with traffic.traffic(url, headers=THROUGH_PROXY, slow_share=0.0) as client:
        time.sleep(baseline_s)
        baseline_until = time.monotonic()
        for number in range(deploys):
            release = f"bench-{number}"
            traffic.set_release(box, release)
            started = time.monotonic()
            returncode, wall, ready_at, tail = timed_deploy(box)
            time.sleep(1)  # responses from the new release arrive
            seen = client.counts.first_seen.get(release)
            runs.append(
                {
                    "started": started,
                    "returncode": returncode,
                    "wall_s": round(wall, 2),
                    "ready_to_served_s": round(seen - ready_at, 2) if seen and ready_at else None,
                    **({"log_tail": tail} if returncode else {}),
                }
            )
    return summarise(runs, client.counts, baseline_until)
