"""``sh run.sh [MODE] [COMMAND [ARGS...]]``: the words, the help, the dispatch.

A mode alone starts it (``up``); a mode and a command runs the command on
that mode; a command alone acts on the stack that is running (dev if none).
The help is made from the modes' summaries and the commands' docstrings.
"""

from __future__ import annotations

import inspect
import os
import sys
from pathlib import Path
from typing import Callable

from driver import commands, data_commands, release_commands
from driver.console import Refused, UsageError, report
from driver.modes import DEV, MODES, mode_for
from driver.project import Project

Command = Callable[[Project, list[str]], int]

# The modules of command functions (one function each; its docstring is its help).
COMMAND_MODULES = (commands, data_commands, release_commands)
COMMANDS: dict[str, Command] = {
    "up": commands.up,
    "down": commands.down,
    "logs": commands.logs,
    "ps": commands.ps,
    "manage": commands.manage,
    "tasks": commands.tasks,
    "superuser": commands.superuser,
    "shell": commands.shell,
    "psql": commands.psql,
    "backup": data_commands.backup,
    "restore": data_commands.restore,
    "releases": release_commands.releases_command,
    "rollback": release_commands.rollback,
    "swarm": release_commands.swarm_command,
    "doctor": commands.doctor_command,
    "install-service": commands.install_service,
    "test": commands.test,
    "lint": commands.lint,
    "reset": commands.reset,
    "bench": commands.bench,
}
ALIASES = {"status": "ps"}
HELP_WORDS = ("help", "-h", "--help")
EXAMPLES = """\
Settings: .env (ENV_FILE=path for another file); every one is documented in
.env.example. Examples:
  sh run.sh -1                 start developing
  sh run.sh test               unit and integration tests
  sh run.sh -0 -s              deploy, then create the superuser
  sh run.sh -0 logs -f web     follow production's web logs
  sh run.sh -0 backup          back up production's database and uploads into backups/
  sh run.sh -0 restore FILE    put a backup back (asks first)
  sh run.sh -0 rollback        put the previous release back in service
  sh run.sh -0 doctor          check this host and .env for production
  sh run.sh swarm deploy       production on the Docker Swarm this node manages
  sh run.sh help restore       all there is to know about one command
"""


def summary(command: Command) -> str:
    return (inspect.getdoc(command) or "").split("\n\n", 1)[0].replace("\n", " ")


def help_text() -> str:
    lines = [
        "Usage: sh run.sh [MODE] [COMMAND [ARGS...]]",
        "",
        "Modes (a mode alone starts it; with a COMMAND, the command acts on that mode):",
    ]
    lines += [f"  {mode.flag}, {mode.name:<6}  {mode.summary}" for mode in MODES]
    lines += ["Without a mode, commands act on the stack that is running (dev if none is).", ""]
    lines.append("Commands:")
    lines += [f"  {name:<15}  {summary(command)}" for name, command in COMMANDS.items()]
    lines.append(f"  {'help [COMMAND]':<15}  Show this help, or a command's own")
    return "\n".join(lines) + "\n\n" + EXAMPLES


def command_help(name: str) -> str:
    command = COMMANDS.get(ALIASES.get(name, name))
    if command is None:
        raise UsageError(f"no such command: {name}")
    return f"sh run.sh [MODE] {name}: {inspect.getdoc(command)}\n"


def dispatch(project: Project, args: list[str]) -> int:
    mode = mode_for(args[0]) if args else None
    if mode is not None:
        project.mode, project.mode_given = mode, True
        args = args[1:]
        if not args or args[0].startswith("-"):
            args = ["up", *args]
    if not args:
        print(help_text(), end="")
        return 0
    name, rest = args[0], args[1:]
    if name in HELP_WORDS:
        if len(rest) > 1:
            raise UsageError("help takes at most one COMMAND")
        print(command_help(rest[0]) if rest else help_text(), end="")
        return 0
    command = COMMANDS.get(ALIASES.get(name, name))
    if command is None:
        raise UsageError(f"unknown mode or command: {name}")
    if name == "up" and project.mode is None:
        project.mode = DEV
    return command(project, rest)


def main(argv: list[str] | None = None) -> int:
    """The driver behind run.sh. Paths the user gives (ENV_FILE, a backup
    FILE) are relative to where run.sh was called; the rest to the repository."""
    root = Path(__file__).resolve().parent.parent
    caller = Path(os.environ.pop("RUN_SH_CALLER_DIR", "") or Path.cwd())
    os.chdir(root)
    project = Project(root, caller)
    try:
        return dispatch(project, sys.argv[1:] if argv is None else argv)
    except (Refused, UsageError) as error:
        return report(error)
    except KeyboardInterrupt:
        return 130
