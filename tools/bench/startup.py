"""Start and rebuild times of the production stack, through `sh run.sh -0`."""

import re
import secrets
import statistics
from datetime import datetime

from tools.throwaway import ThrowawayStack, clean_env, run

HEALTH_LOG_KEPT = 5
# The dependency step: the RUN that calls pip ... install.
DEPS_STEP = re.compile(r"^#(\d+) \[[^\]]*\] RUN .*\bpip\b.*\binstall\b", re.MULTILINE)


def summary(values: list[float]) -> dict:
    return {
        "median": round(statistics.median(values), 3) if values else None,
        "min": round(min(values), 3) if values else None,
        "max": round(max(values), 3) if values else None,
        "runs": [round(value, 3) for value in values],
    }


def _when(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def phases(box: ThrowawayStack, started_at: float) -> dict:
    """Seconds from the run.sh call to each milestone, from Docker's own
    timestamps: containers started, db and web first healthy, migrate done."""
    result = {}
    for service in ("db", "migrate", "web"):
        found = box.find_container("prod", service)
        if found is None:
            continue  # run.sh runs migrations in one-off containers
        state = found["State"]
        if _when(state["StartedAt"]) < started_at:
            continue  # left running from before this call
        result[f"{service}_started"] = round(_when(state["StartedAt"]) - started_at, 3)
        if not state["Running"]:
            result[f"{service}_finished"] = round(_when(state["FinishedAt"]) - started_at, 3)
        healthy = first_healthy((state.get("Health") or {}).get("Log") or [])
        if healthy is not None:
            result[f"{service}_healthy"] = round(healthy - started_at, 3)
    return result


def first_healthy(checks: list[dict]) -> float | None:
    """When the first health check passed. Docker keeps only the last
    HEALTH_LOG_KEPT checks: a full log that starts with a pass may have
    dropped the first one, so that case says nothing (None)."""
    for index, check in enumerate(checks):
        if check["ExitCode"] == 0:
            if index == 0 and len(checks) >= HEALTH_LOG_KEPT:
                return None
            return _when(check["End"])
    return None


def _up(box: ThrowawayStack) -> tuple[float, dict]:
    started_at = datetime.now().timestamp()
    seconds = box.run_sh("-0").seconds
    return seconds, phases(box, started_at)


def cold_and_warm(box: ThrowawayStack, cold_reps: int, warm_reps: int) -> dict:
    """Cold: first start on a fresh volume (initdb + all migrations).
    Warm: images built, volume initialised, containers removed (run.sh down).
    No-op redeploy: `sh run.sh -0` again while the stack runs."""
    cold, cold_phases, warm, warm_phases, noop, down = [], [], [], [], [], []
    for index in range(cold_reps):
        if index:
            box.run_sh("-0", "down")
            box.compose("prod", "down", "--volumes")  # the copy's own throwaway volume
        seconds, timeline = _up(box)
        cold.append(seconds)
        cold_phases.append(timeline)
    for _ in range(warm_reps):
        down.append(box.run_sh("-0", "down").seconds)
        seconds, timeline = _up(box)
        warm.append(seconds)
        warm_phases.append(timeline)
    for _ in range(warm_reps):
        noop.append(box.run_sh("-0").seconds)
    return {
        "cold_s": summary(cold),
        "cold_phases": cold_phases,
        "warm_s": summary(warm),
        "warm_phases": warm_phases,
        "noop_redeploy_s": summary(noop),
        "down_s": summary(down),
    }


def parse_deps_reused(build_output: str) -> bool | None:
    """Whether BuildKit reused the dependency step (pip install): its step
    number is followed by CACHED. None when the step is not in the output."""
    match = DEPS_STEP.search(build_output)
    if not match:
        return None
    return re.search(rf"^#{match.group(1)} CACHED$", build_output, re.MULTILINE) is not None


def _rebuild(box: ThrowawayStack, change) -> dict:
    change()
    # BuildKit's plain progress output says which steps were CACHED.
    build = run(
        box.compose_command("prod", "build", "web"),
        box.root,
        clean_env(BUILDKIT_PROGRESS="plain"),
        check=True,
    )
    output = build.stdout + build.stderr
    restart = box.run_sh("-0")
    return {
        "build_s": round(build.seconds, 3),
        "restart_s": round(restart.seconds, 3),
        "total_s": round(build.seconds + restart.seconds, 3),
        "deps_reused": parse_deps_reused(output),
    }


def rebuilds(box: ThrowawayStack, code_reps: int, requirements_reps: int) -> dict:
    """Code-only change (a comment in a view) and requirements change (a
    comment in requirements.txt): build, then `run.sh -0` to healthy."""
    requirements = (box.root / "app/requirements.txt").read_text()
    code = [
        _rebuild(box, lambda: box.append("app/catalog/views.py", f"# bench {secrets.token_hex(4)}"))
        for _ in range(code_reps)
    ]
    try:
        deps = [
            _rebuild(
                box, lambda: box.append("app/requirements.txt", f"# bench {secrets.token_hex(4)}")
            )
            for _ in range(requirements_reps)
        ]
    finally:
        (box.root / "app/requirements.txt").write_text(requirements)
    return {"code_only": _rebuild_summary(code), "requirements": _rebuild_summary(deps)}


def _rebuild_summary(runs: list[dict]) -> dict:
    return {
        "build_s": summary([run["build_s"] for run in runs]),
        "restart_s": summary([run["restart_s"] for run in runs]),
        "total_s": summary([run["total_s"] for run in runs]),
        "deps_reused": [run["deps_reused"] for run in runs],
    }
