"""The Markdown report of a result: the budget's rows (budget.py) and each measurement's table."""

import statistics

from tools.bench.budget import MB, budget


def _fmt(value, unit: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        value = f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"
    return f"{value} {unit}".strip() if unit and unit != "×" else f"{value}{unit}"


def _verdict(ok) -> str:
    return {True: "met", False: "**missed**", None: "not measured"}[ok]


def _median_phases(runs: list[dict]) -> dict:
    """Median time of each milestone, over the runs where it was seen, in
    time order."""
    keys = {key for run in runs for key in run}
    medians = {key: statistics.median(run[key] for run in runs if key in run) for key in keys}
    return dict(sorted(medians.items(), key=lambda item: item[1]))


def render(result: dict) -> str:
    machine = result.get("machine", {})
    lines = [
        f"# Benchmark {result.get('started_at', '')}" + (" (quick)" if result.get("quick") else ""),
        "",
        (
            f"Machine: {machine.get('cpus_usable')} cores ({machine.get('cpu_model')}), "
            f"{machine.get('memory_gib')} GiB, Docker {machine.get('docker')}, Compose {machine.get('compose')}, "
            f"{machine.get('wrk')}; Python {machine.get('container_python', '?')} in the image, "
            f"{machine.get('host_python')} on the host. Load average at start / end: "
            f"{result.get('load_average', {}).get('start')} / {result.get('load_average', {}).get('end')}. "
            f"Commit {result.get('commit', '?')}. Medians of the repetitions shown."
        ),
        "",
        *(
            [
                f"Settings changed for this run: {', '.join(f'`{k}={v}`' for k, v in settings.items())}.",
                "",
            ]
            if (settings := result.get("settings"))
            else []
        ),
        "## Budget",
        "",
        "| budget line | target | measured | verdict |",
        "| --- | --- | --- | --- |",
    ]
    for row in result.get("budget") or budget(result):
        lines.append(
            f"| {row['line']} | {row['target']} | {_fmt(row['measured'], row['unit'])} | {_verdict(row['ok'])} |"
        )
    lines += (
        _render_startup(result) + _render_image(result) + _render_http(result)
        + _render_media(result) + _render_tasks(result) + _render_recovery(result)
    )  # fmt: skip
    return "\n".join(lines) + "\n"


def _render_startup(result: dict) -> list[str]:
    startup, rebuild = result.get("startup"), result.get("rebuild")
    if not startup:
        return []
    lines = ["", "## Start and rebuild", "", "| what | median | runs |", "| --- | --- | --- |"]
    for key, label in (
        ("cold_s", "cold `run.sh -0`, fresh volume, to healthy"),
        ("warm_s", "warm `run.sh -0` after `down`, to healthy"),
        ("noop_redeploy_s", "`run.sh -0` again while running"),
        ("down_s", "`run.sh -0 down`"),
    ):
        if key in startup:
            runs = ", ".join(map(str, startup[key]["runs"]))
            lines.append(f"| {label} | {_fmt(startup[key]['median'], 's')} | {runs} |")
    for key, label in (("code_only", "code-only change"), ("requirements", "requirements change")):
        part = (rebuild or {}).get(key)
        if part:
            reused = ", ".join(
                {True: "yes", False: "no", None: "?"}[value] for value in part["deps_reused"]
            )
            lines.append(
                f"| {label}: build + `run.sh -0` | {_fmt(part['total_s']['median'], 's')} | "
                f"build {_fmt(part['build_s']['median'], 's')} + restart {_fmt(part['restart_s']['median'], 's')}; "
                f"deps layer reused: {reused} |"
            )
    if startup.get("warm_phases"):
        phases = _median_phases(startup["warm_phases"])
        steps = ", ".join(f"{name} {_fmt(seconds, 's')}" for name, seconds in phases.items())
        lines += [
            "",
            f"Warm start timeline (seconds after `run.sh -0` was called, medians): {steps}.",
        ]
    return lines


def _render_image(result: dict) -> list[str]:
    image = result.get("image")
    if not image:
        return []
    lines = [
        "",
        "## Image",
        "",
        (
            f"Web image {image['image_bytes'] / MB:.1f} MB; base `{image['base']}` {image['base_bytes'] / MB:.1f} MB; "
            f"added {image['added_bytes'] / MB:.1f} MB:"
        ),
        "",
        "| layer | size |",
        "| --- | --- |",
    ]
    for layer in image["added_layers"]:
        step = layer["step"].replace("|", "\\|")
        lines.append(f"| `{step[:80]}` | {layer['bytes'] / MB:.2f} MB |")
    return lines


def _render_http(result: dict) -> list[str]:
    http = result.get("http")
    if not http:
        return []
    lines = [
        "",
        f"## HTTP (wrk, {http['seconds']} s per run, {http['reps']} repetitions, 127.0.0.1)",
        "",
        (
            "| server | endpoint | conns | req/s | p50 | p99 | non-2xx | socket errors "
            "| server CPU/req | proxy CPU/req |"
        ),
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for target, endpoints in http["summary"].items():
        for endpoint, by_connections in endpoints.items():
            for connections, row in by_connections.items():
                lines.append(
                    f"| {target} | {endpoint} | {connections} | {row['rps']:.0f} | {row['p50_ms']:.1f} ms | "
                    f"{row['p99_ms']:.1f} ms | {row['non2xx']} | {row['socket_errors']} | "
                    f"{_fmt(row.get('server_cpu_ms'), 'ms')} | {_fmt(row.get('proxy_cpu_ms'), 'ms')} |"
                )
    servers = http.get("servers")
    if servers:
        container, native = servers["container"], servers["native"]
        limit = container["cpu_limit"]
        lines += [
            "",
            (
                f"gunicorn in the container: CPU limit {limit if limit is not None else 'none'}, "
                f"{container['workers']} workers × {container['threads']} threads; natively: "
                f"CPUs {native['cpus']} (affinity), {native['workers']} workers, same settings."
            ),
        ]
    soak = http.get("soak")
    if soak:
        lines += [
            "",
            (
                f"Error run: container, items, 64 conns, {soak['seconds']:.0f} s: {soak['rps']:.0f} req/s, "
                f"p99 {soak['p99_ms']:.1f} ms, {soak['non2xx']} non-2xx, {soak['socket_errors']} socket errors."
            ),
        ]
    for label, endpoints in http.get("ratios", {}).items():
        parts = [
            f"{endpoint} at {conns} conns {ratio:.2f}×"
            for endpoint, by in endpoints.items()
            for conns, ratio in by.items()
        ]
        lines += ["", f"Ratio {label} (req/s): " + "; ".join(parts) + "."]
    return lines


def _render_media(result: dict) -> list[str]:
    """Uploads (tools/bench/media.py): serving through the proxy; backup and restore."""
    media = result.get("media")
    if not media:
        return []
    lines = ["", "## Uploads", ""]
    serve = media.get("serve")
    if serve:
        parts = [
            f"{conns} conns {row['rps']:.0f} req/s ({row['mb_s']:.0f} MB/s), "
            f"p99 {row['p99_ms']:.1f} ms, {row['errors']} errors"
            for conns, row in serve.items()
            if isinstance(row, dict)
        ]
        lines.append(
            f"A {serve['file_bytes'] // 1000} kB file from the media volume through the proxy "
            f"(wrk, {serve['seconds']} s): " + "; ".join(parts) + "."
        )
    backup = media.get("backup")
    if backup:
        lines += [
            "",
            (
                f"{backup['files']:,} files of {backup['file_bytes'] // 1000} kB beside "
                f"{backup['rows']:,} rows: `backup` {backup['backup_s']:.1f} s, `restore --yes` "
                f"{backup['restore_s']:.1f} s (its pre-restore backup included)."
            ),
        ]
    return lines


def _render_tasks(result: dict) -> list[str]:
    """Background tasks (tools/bench/tasks.py): throughput, latency, memory."""
    tasks = result.get("tasks")
    if not tasks:
        return []
    lines = ["", "## Background tasks", "", "| measure | median | runs |", "| --- | --- | --- |"]
    for workers in sorted({run["workers"] for run in tasks["runs"]}):
        rates = [run["per_s"] for run in tasks["runs"] if run["workers"] == workers]
        count = next(run["tasks"] for run in tasks["runs"] if run["workers"] == workers)
        lines.append(
            f"| no-op tasks per second, {workers} worker{'s' if workers > 1 else ''} "
            f"({count} tasks) | {statistics.median(rates):.0f} | {', '.join(map(str, rates))} |"
        )
    latency = tasks.get("latency")
    if latency:
        lines.append(
            f"| enqueue to start, idle worker ({latency['tasks']} tasks, {latency['gap_s']} s apart) "
            f"| p50 {latency['p50_ms']:.0f} ms, p99 {latency['p99_ms']:.0f} ms "
            f"| max {latency['max_ms']:.0f} ms |"
        )
    if tasks.get("memory_mib") is not None:
        lines.append(f"| a worker's memory at rest | {tasks['memory_mib']:.0f} MiB | |")
    return lines


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _render_recovery(result: dict) -> list[str]:
    """Point-in-time recovery (tools/bench/recovery.py): a lost data volume,
    a restore to a moment, and what the WAL archive costs."""
    recovery = result.get("recovery")
    if not recovery:
        return []
    lost, moment = recovery["lost_volume"], recovery["to_moment"]
    timeout = recovery["wal_archive_timeout_s"]
    rpos = ", ".join(_fmt(run["rpo_s"], "s") for run in lost["runs"])
    oldest = ", ".join(_fmt(run["oldest_lost_s"], "s") for run in lost["runs"])
    lines = [
        "",
        f"## Point-in-time recovery (WAL_ARCHIVE_TIMEOUT={timeout} s)",
        "",
        (
            f"Data volume destroyed at a random moment under the write load, then "
            f"`restore --time latest --yes` ({_count(len(lost['runs']), 'run')}): "
            f"{lost['lost']:,} of {lost['acknowledged']:,} acknowledged rows lost; the last "
            f"acknowledged row that came back was acknowledged {rpos} before the destruction "
            f"(the oldest lost one {oldest}); the restore took "
            f"{_fmt(lost['restore_s']['median'], 's')} (median)."
        ),
        "",
        (
            f"{recovery['rows']:,} rows: base backup {_fmt(recovery['base_backup_s'], 's')}; "
            f"`restore --time MOMENT --yes` after the table was emptied "
            f"{_fmt(moment['restore_s']['median'], 's')} (runs: "
            f"{', '.join(_fmt(run['restore_s'], 's') for run in moment['runs'])}; its pre-restore "
            "backup included), every row back."
        ),
    ]
    return lines + _render_archive_cost(recovery["cost"], recovery.get("archive_total_bytes"))


def _render_archive_cost(cost: dict, total: int | None) -> list[str]:
    """The archive's disk and CPU, with archiving on against off."""
    rest = cost["at_rest"]
    on, off = (
        next(run for run in cost["load"] if run["archiving"] is flag) for flag in (True, False)
    )
    segments = f"{_count(rest['segments'], 'segment')} archived"
    rows = [
        ("rows written per minute (load client)", f"{on['rows_per_min']:.0f}",
         f"{off['rows_per_min']:.0f}"),
        ("db CPU under that load, s per minute", f"{on['db_cpu_per_min']:.2f}",
         f"{off['db_cpu_per_min']:.2f}"),
        ("db CPU per row written, ms", _fmt(on["db_cpu_ms_per_row"]),
         _fmt(off["db_cpu_ms_per_row"])),
        ("the archiver's own CPU (archive-push included), s per minute",
         _fmt(on.get("archiver_cpu_per_min")), "–"),
        ("archive growth under that load, per minute",
         f"{on['archive_bytes_per_min'] / MB:.2f} MB", "–"),
        (f"archive growth at rest ({rest['seconds']:.0f} s, {segments}), per hour",
         f"{rest['archive_bytes_per_hour'] / MB:.2f} MB", "–"),
    ]  # fmt: skip
    lines = ["", "| what archiving costs | archiving on | off |", "| --- | --- | --- |"]
    lines += [f"| {label} | {with_it} | {without} |" for label, with_it, without in rows]
    if total is not None:
        lines += [
            "",
            f"The archive's volume held {total / MB:.1f} MB at the end (base backups included).",
        ]
    return lines
