"""The words of `sh run.sh`: usage errors, help, and dispatch, in-process.

The same table runs against the real launcher, under dash and with Docker,
in tests/e2e/test_bad_input.py; here no command may reach Docker at all.
"""

import re

import pytest

from bad_input import USAGE_ERRORS
from driver import cli
from driver.console import Refused, UsageError
from driver.project import Project
from fakes import FakeRunner


@pytest.fixture
def bare(tmp_path) -> tuple[Project, FakeRunner]:
    runner = FakeRunner(tmp_path)
    return Project(tmp_path, tmp_path, runner), runner


@pytest.mark.parametrize(("args", "message"), USAGE_ERRORS)
def test_usage_errors_name_the_problem_and_touch_nothing(bare, args, message):
    project, runner = bare
    with pytest.raises(UsageError, match=re.escape(message)):
        cli.dispatch(project, args)
    assert runner.calls == []


def test_usage_errors_exit_2_with_the_usage_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["--bogus"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "run.sh: unknown mode or command: --bogus",
        "Usage: sh run.sh [-0|-1|-2|-3] [COMMAND [ARGS...]]   (sh run.sh help)",
    ]


def test_down_never_deletes_volumes(bare):
    project, runner = bare
    for flag in ("-v", "--volumes"):
        with pytest.raises(Refused, match="down never deletes volumes"):
            cli.dispatch(project, ["down", flag])
    assert runner.calls == []


def test_help_lists_every_mode_and_command_from_the_docstrings():
    text = cli.help_text()
    assert text.startswith("Usage: sh run.sh")
    for name, command in cli.COMMANDS.items():
        line = re.search(rf"^  {re.escape(name)} +(\S.*)$", text, re.MULTILINE)
        assert line, name
        assert line.group(1) == cli.summary(command)
        assert command.__doc__, f"{name} has no docstring: it is its help"
    for mode in ("-0, prod", "-1, dev", "-2, db", "-3, host"):
        assert mode in text
    assert re.search(r"^  help +\S", text, re.MULTILINE)


def test_no_arguments_and_help_print_the_help(bare, capsys):
    project, runner = bare
    for args in ([], ["help"], ["-h"], ["--help"]):
        assert cli.dispatch(project, args) == 0
        assert capsys.readouterr().out == cli.help_text()
    assert runner.calls == []


def test_help_of_one_command_is_its_whole_docstring(bare, capsys):
    project, _ = bare
    assert cli.dispatch(project, ["help", "restore"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("sh run.sh [MODE] restore: Replace MODE's database")
    assert "a restore that fails changes nothing" in out
    assert cli.dispatch(project, ["help", "status"]) == 0
    assert "(alias: status)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "mode", "given", "command", "rest"),
    [
        (["-0"], "prod", True, "up", []),
        (["prod", "-s"], "prod", True, "up", ["-s"]),
        (["-1", "logs", "-f"], "dev", True, "logs", ["-f"]),
        (["-3"], "host", True, "up", []),
        (["up"], "dev", False, "up", []),
        (["status"], None, False, "ps", []),
    ],
)
def test_modes_and_commands_dispatch(bare, monkeypatch, args, mode, given, command, rest):
    project, _ = bare
    seen = []
    monkeypatch.setitem(cli.COMMANDS, command, lambda p, a: seen.append(a) or 0)
    assert cli.dispatch(project, args) == 0
    assert seen == [rest]
    assert (project.mode.name if project.mode else None) == mode
    assert project.mode_given is given


def test_every_command_is_registered_once():
    public = {
        function
        for module in cli.COMMAND_MODULES
        for function in vars(module).values()
        if callable(function) and getattr(function, "__module__", "") == module.__name__
    }
    registered = set(cli.COMMANDS.values())
    assert registered <= public
    assert len(registered) == len(cli.COMMANDS)
