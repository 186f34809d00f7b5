"""sh run.sh bench [--quick] [--set NAME=VALUE] [--output DIR]: measure the stack.

tools/bench/README.md says what is measured and how. Runs in a throwaway copy
of the repository with its own Compose project, ports and secrets; deletes
that copy's containers, volumes and images at the end. Writes
DIR/<time>.json and the Markdown table beside it.
"""

import argparse
import json
import math
import os
import re
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from tools import traffic
from tools.bench import (
    budget,
    cpu,
    deploys,
    devloop,
    image,
    machine,
    media,
    recovery,
    report,
    startup,
    tasks,
    throughput,
)
from tools.bench.load import NativeGunicorn
from tools.throwaway import REPO_DIR, ThrowawayStack, production_settings

# Repetitions and durations; a full run took about 15 minutes on 2 cores
# before the recovery lines, which add about 7 (estimated from --quick).
PROFILES = {
    "full": {
        "cold": 3,
        "warm": 5,
        "code": 3,
        "requirements": 2,
        "http_reps": 3,
        "http_seconds": 10,
        "soak_seconds": 30,
        "autoreload": 5,
        "tests": 3,
        "deploys": 20,
        "deploy_baseline_s": 10,
        "tasks": 1000,
        "tasks_reps": 3,
        # Point-in-time recovery (recovery.py): the stack's own
        # WAL_ARCHIVE_TIMEOUT (None), so that the RPO is what users get.
        "wal_archive_timeout": None,
        "pitr_reps": 2,
        "rpo_reps": 3,
        "archive_rest_s": 60,
        "archive_load_s": 45,
    },
    "quick": {
        "cold": 1,
        "warm": 2,
        "code": 1,
        "requirements": 1,
        "http_reps": 1,
        "http_seconds": 3,
        "soak_seconds": 5,
        "autoreload": 2,
        "tests": 1,
        "deploys": 3,
        "deploy_baseline_s": 5,
        "tasks": 200,
        "tasks_reps": 1,
        "wal_archive_timeout": 5,
        "pitr_reps": 1,
        "rpo_reps": 1,
        "archive_rest_s": 15,
        "archive_load_s": 15,
    },
}
# Container environment that belongs to the image, not to the settings.
IMAGE_ONLY_ENV = {
    "PATH",
    "HOME",
    "HOSTNAME",
    "LANG",
    "GPG_KEY",
    "PYTHON_VERSION",
    "PYTHON_SHA256",
    "STATIC_ROOT",
    "MEDIA_ROOT",
    "FILE_UPLOAD_TEMP_DIR",
}


def say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=REPO_DIR, capture_output=True, text=True, check=False
    ).stdout.strip()


def _commit() -> str:
    """The checkout's commit, marked when tracked files differ from it."""
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return f"{_git('rev-parse', '--short', 'HEAD')}{'+changes' if dirty else ''}"


def throwaway_stack(settings: dict[str, str]) -> ThrowawayStack:
    """The copy, with production settings and ``settings`` (the ones under
    comparison) in its .env. The checkout's .venv is linked into it (run.sh
    test keeps it in step with the requirements) so that `run.sh test` is
    timed warm."""
    box = ThrowawayStack(prefix="bench")
    box.write_env(**production_settings(**settings))
    if (REPO_DIR / ".venv").is_dir():
        (box.root / ".venv").symlink_to(REPO_DIR / ".venv")
    return box


def _native_setup(box: ThrowawayStack) -> tuple[dict[str, str], set[int] | None, dict]:
    """The web container's settings, pointed at the db container's address,
    with its worker count; the CPUs its CPU limit amounts to; and both
    configurations, for the record."""
    web = box.inspect("prod", box.web_service())
    variables = dict(item.split("=", 1) for item in web["Config"]["Env"])
    environment = {
        name: value
        for name, value in variables.items()
        if name not in IMAGE_ONLY_ENV and value != ""
    }
    environment.update(POSTGRES_HOST=box.container_ip("prod", "db"), POSTGRES_PORT="5432")
    # Uploads: a folder of the copy's (web's start-up check wants it writable).
    media = box.tmp / "native-media"
    media.mkdir(exist_ok=True)
    environment["MEDIA_ROOT"] = str(media)
    limit = cpu.container_cpu_limit(web)
    cpus = None
    if limit is not None:
        allowed = sorted(os.sched_getaffinity(0))
        cpus = set(allowed[: max(1, math.ceil(limit))])
    workers = len(cpu.children(web["State"]["Pid"])) if cpu.available() else None
    if workers:
        environment["WEB_CONCURRENCY"] = str(workers)
    record = {
        "container": {
            "cpu_limit": limit,
            "workers": workers,
            "threads": variables.get("GUNICORN_THREADS"),
        },
        "native": {"cpus": sorted(cpus) if cpus else "all", "workers": workers},
    }
    return environment, cpus, record


def _pid(box: ThrowawayStack, mode: str, service: str) -> int:
    return int(box.inspect(mode, service)["State"]["Pid"])


def _production_targets(box: ThrowawayStack) -> dict[str, dict]:
    """Production's gunicorn as visitors reach it, through the proxy's
    published port ("container"), and the same container at its own address
    on the project's network, around the proxy ("direct"); the processes
    whose CPU time is counted: the web container's tree, and in front of it
    the proxy's (Caddy's tree and Docker's port proxy for its port)."""
    web = box.web_service()
    targets: dict[str, dict] = {
        "container": {"url": box.web_url("")},
        # An address is no host name in ALLOWED_HOSTS: the proxy's is sent.
        "direct": {"url": box.gunicorn_url(""), "headers": {"Host": "127.0.0.1"}},
    }
    if cpu.available():
        server = [_pid(box, "prod", web)]
        proxy = [_pid(box, "prod", "proxy"), *cpu.port_proxies(int(box.ports["HTTP_PORT"]))]
        targets["container"]["pids"] = {"server": server, "proxy": proxy}
        targets["direct"]["pids"] = {"server": server}
    return targets


def _runserver_target(box: ThrowawayStack) -> dict:
    """The dev web container (runserver) through its published port, and
    the processes whose CPU time is counted: its own tree and Docker's port proxy."""
    target: dict = {"url": box.url("dev", "")}
    if cpu.available():
        target["pids"] = {
            "server": [_pid(box, "dev", "web")],
            "proxy": cpu.port_proxies(int(box.ports["WEB_PORT"])),
        }
    return target


def run(profile: dict, quick: bool, settings: dict[str, str]) -> dict:
    result: dict = {
        "schema": 1,
        "started_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "quick": quick,
        "profile": profile,
        "commit": _commit(),
        "settings": settings,
        "load_average": {"start": machine.load_average()},
    }
    box = throwaway_stack(settings)
    say(f"throwaway copy {box.root}, project {box.project}")
    try:
        say("building the image")
        result["initial_build_s"] = round(box.compose("prod", "build").seconds, 3)
        result["machine"] = machine.describe(box.image)
        result["image"] = image.sizes(box.image, box.root / "docker/Dockerfile")

        say("cold and warm starts of the production stack")
        result["startup"] = startup.cold_and_warm(box, profile["cold"], profile["warm"])
        say("rebuilds after a code change and after a requirements change")
        result["rebuild"] = startup.rebuilds(box, profile["code"], profile["requirements"])

        say("HTTP: gunicorn in the container (through the proxy, and direct) and natively")
        result["seed_rows"] = throughput.seed(box, "prod")
        log = box.tmp / "native-gunicorn.log"
        environment, cpus, servers = _native_setup(box)
        with NativeGunicorn(box.root, environment, log, cpus) as native:
            targets = {**_production_targets(box), "native": {"url": native.url}}
            if cpu.available():
                targets["native"]["pids"] = {"server": [native.pid]}
            runs = throughput.matrix(targets, profile["http_reps"], profile["http_seconds"])
        say(f"HTTP: error run, {profile['soak_seconds']} s at 64 connections")
        soak = throughput.soak(box.web_url(""), profile["soak_seconds"])
        say("uploads: a 100 kB media file through the proxy")
        result["media"] = {"serve": media.serve(box, profile["http_reps"], profile["http_seconds"])}

        say(f"deploys: {profile['deploys']} code changes under load")
        traffic.install_views(box)
        tasks.install(box)
        box.run_sh("-0")
        result["deploys"] = deploys.measure(
            box, box.web_url(""), profile["deploys"], profile["deploy_baseline_s"]
        )
        say("tasks: no-op tasks with 1 and 2 workers, enqueue-to-start latency, memory")
        result["tasks"] = tasks.measure(box, profile["tasks"], profile["tasks_reps"])
        say("uploads: backup and restore of 1,000 files beside 100,000 rows")
        result["media"]["backup"] = media.backup_and_restore(box)
        say("point-in-time recovery: restore --time, a lost data volume, the archive's cost")
        result["recovery"] = recovery.measure(box, profile)
        box.run_sh("-0", "down")

        say("development stack: runserver, autoreload, tests")
        box.compose("dev", "up", "--detach", "--build", "--wait", "web")
        throughput.seed(box, "dev")
        runs += throughput.matrix(
            {"runserver": _runserver_target(box)},
            profile["http_reps"],
            profile["http_seconds"],
        )
        summary = throughput.summarise(runs)
        result["http"] = {
            "seconds": profile["http_seconds"],
            "reps": profile["http_reps"],
            "runs": runs,
            "summary": summary,
            "ratios": throughput.ratios(summary),
            "soak": soak,
            "servers": servers,
        }
        result["devloop"] = {
            "autoreload_s": devloop.autoreload(box, profile["autoreload"]),
            "test_s": devloop.test_suite(box, profile["tests"]),
        }
    finally:
        say("removing the throwaway copy's containers, volumes and images")
        box.close()
    result["load_average"]["end"] = machine.load_average()
    result["finished_at"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    result["budget"] = budget.budget(result)
    return result


def write(result: dict, output: Path) -> Path:
    output.mkdir(parents=True, exist_ok=True)
    stamp = result["started_at"].replace(":", "").replace("-", "")
    path = output / f"{stamp}{'-quick' if result['quick'] else ''}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    path.with_suffix(".md").write_text(report.render(result))
    return path


def _setting(text: str) -> str:
    name, sep, _ = text.partition("=")
    if not sep or not re.fullmatch(r"[A-Z][A-Z0-9_]*", name):
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return text


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sh run.sh bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="one short repetition of each measure (for development)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=REPO_DIR / "tools/bench/results",
        help="folder for the results (gitignored)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        type=_setting,
        metavar="NAME=VALUE",
        help="a setting for the copy's .env, e.g. --set GUNICORN_THREADS=4 (repeatable)",
    )
    parser.add_argument(
        "--render",
        type=Path,
        metavar="JSON",
        help="only rewrite the Markdown table of a result file",
    )
    args = parser.parse_args(argv)
    if args.render:
        result = json.loads(args.render.read_text())
        args.render.with_suffix(".md").write_text(report.render(result))
        return 0
    # SIGTERM (e.g. a CI timeout) still removes the throwaway stack.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    settings = dict(item.split("=", 1) for item in args.set)
    result = run(PROFILES["quick" if args.quick else "full"], args.quick, settings)
    path = write(result, args.output)
    say(f"results: {os.path.relpath(path)} and {os.path.relpath(path.with_suffix('.md'))}")
    print(path.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
