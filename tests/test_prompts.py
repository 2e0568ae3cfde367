"""The questions, as a user meets them: numbered menus in a real terminal, and
bad answers refused before anything is written.

Interactive runs go through a pseudo-terminal (the standard library's pty
module), so cookiecutter prompts exactly as it does for a person.
"""

import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from combinations import UNSUPPORTED_CHOICES
from conftest import TEMPLATE, cookiecutter_json, run

import local_extensions

COOKIECUTTER = [sys.executable, "-m", "cookiecutter"]
CHOICE_VARIABLES = ["python_version", "dependency_workflow", "runtime_flavor", "database"]


class Terminal:
    """A command on a pseudo-terminal: wait for a prompt, type an answer."""

    def __init__(self, command: list[str], cwd: Path) -> None:
        self.screen = ""
        self._seen = 0
        main, child = pty.openpty()
        # A wide terminal, so that rich does not wrap the questions.
        fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 250, 0, 0))
        environment = {**os.environ, "NO_COLOR": "1", "TERM": "dumb"}
        self.process = subprocess.Popen(
            command, stdin=child, stdout=child, stderr=child, cwd=cwd, env=environment
        )
        os.close(child)
        self._main = main

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self._main], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self._main, 65536)
        except OSError:  # the command exited and closed the terminal
            return False
        self.screen += data.decode(errors="replace").replace("\r\n", "\n")
        return bool(data)

    def expect(self, text: str, timeout: float = 60) -> str:
        """Wait until `text` appears after what was already matched; return what came before."""
        deadline = time.monotonic() + timeout
        while text not in self.screen[self._seen :]:
            if time.monotonic() > deadline or not self._read(0.2):
                pytest.fail(f"never saw {text!r}; the terminal shows:\n{self.screen}")
        start = self._seen
        self._seen = self.screen.index(text, self._seen) + len(text)
        return self.screen[start : self._seen]

    def answer(self, prompt: str, typed: str = "") -> str:
        """Wait for a question that ends in `prompt`, then type `typed` and Enter."""
        shown = self.expect(prompt)
        os.write(self._main, typed.encode() + b"\n")
        return shown

    def finish(self, timeout: float = 120) -> int:
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            self._read(0.2)
        while self._read(0):  # whatever is left on the screen
            pass
        os.close(self._main)
        return self.process.wait(timeout=5)


def cookiecutter_in_a_terminal(tmp_path: Path) -> Terminal:
    output = tmp_path / "out"
    output.mkdir()
    return Terminal([*COOKIECUTTER, str(TEMPLATE), "-o", str(output)], cwd=tmp_path)


def test_closed_choices_are_numbered_menus(tmp_path):
    terminal = cookiecutter_in_a_terminal(tmp_path)

    for question in ["[1/12]", "[2/12]", "[3/12]", "[4/12]"]:
        terminal.answer(question)
    python_menu = terminal.answer("Choose from [1/2/3] (1): ")
    terminal.answer("[6/12]")
    terminal.answer("[7/12]")
    workflow_menu = terminal.answer("Choose from [1/2] (1): ")
    flavor_menu = terminal.answer("Choose from [1/2] (1): ", "2")
    database_menu = terminal.answer("Choose from [1/2] (1): ", "2")
    terminal.answer("[11/12]")
    terminal.answer("[12/12]")
    status = terminal.finish()

    assert status == 0, terminal.screen
    assert re.search(r"1 - 3\.12\n\s+2 - 3\.11\n\s+3 - 3\.13\n", python_menu)
    assert "1 - requirements: " in workflow_menu and "2 - uv: " in workflow_menu
    assert "1 - slim: " in flavor_menu and "2 - minimal: " in flavor_menu
    assert "1 - none: " in database_menu and "2 - postgres: " in database_menu
    project = tmp_path / "out" / "my_service"
    assert (project / "tests" / "test_database.py").is_file()  # menu item 2: postgres
    assert "ARG RUNTIME_STAGE=runtime-minimal" in (project / "Dockerfile").read_text()


def test_every_closed_choice_is_a_menu():
    """Each choice variable is a list in cookiecutter.json, its first item the default."""
    context = cookiecutter_json()

    assert [key for key, value in context.items() if isinstance(value, list) and key[0] != "_"] == (
        CHOICE_VARIABLES
    )


def test_a_bad_first_answer_stops_the_questions_at_once(tmp_path):
    terminal = cookiecutter_in_a_terminal(tmp_path)

    terminal.answer("[1/12]")
    terminal.answer("[2/12]", "class")
    status = terminal.finish()

    assert status == 1
    after_slug = terminal.screen.split("(my_service): ", 1)[1]
    assert "ERROR: project_slug 'class' is invalid: it is a Python keyword." in after_slug
    assert "[3/12]" not in after_slug  # no further question was asked
    assert "Traceback" not in terminal.screen
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize(("overrides", "variable", "choices", "nearest"), UNSUPPORTED_CHOICES)
def test_bad_choice_on_the_command_line_is_refused_and_leaves_nothing(
    tmp_path, overrides, variable, choices, nearest
):
    """cookiecutter itself refuses an answer that is not one of a menu's choices, before
    it reads a template file; its message names the variable and every choice."""
    answers = [f"{key}={value}" for key, value in overrides.items()]

    result = run([*COOKIECUTTER, "--no-input", str(TEMPLATE), "-o", str(tmp_path), *answers])

    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert f"choice variable {variable}, but the choices are {choices}" in last_line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("overrides", "variable", "choices", "nearest"), UNSUPPORTED_CHOICES)
def test_our_rules_suggest_the_nearest_choice(overrides, variable, choices, nearest):
    (problem,) = local_extensions.load_pre_gen_hook().problems(overrides)

    assert problem.startswith(f"ERROR: {variable} {overrides[variable]!r} is invalid: ")
    listed = re.search(r"it must be one of: ([^.]+(?:\.\d+[^.]*)*)\. Try", problem)[1]
    assert sorted(listed.split(", ")) == sorted(choices)
    assert problem.endswith(f"Try: {nearest!r}")


def test_a_bad_choice_in_a_replay_file_gets_one_line_and_leaves_nothing(tmp_path):
    """A replay file skips cookiecutter's choice check and the early validation (its
    answers are not asked again); the pre-gen hook catches it, below cookiecutter's own
    report of a failed hook."""
    config = tmp_path / "config.yaml"
    config.write_text(f"replay_dir: {json.dumps(str(tmp_path / 'replay'))}\n")
    first = tmp_path / "first"
    made = run(
        [*COOKIECUTTER, "--no-input", "--config-file", str(config), str(TEMPLATE), "-o", str(first)]
    )
    assert made.returncode == 0, made.stderr
    (replay,) = (tmp_path / "replay").iterdir()
    context = json.loads(replay.read_text())
    context["cookiecutter"]["database"] = "Postgres"
    replay.write_text(json.dumps(context))
    output = tmp_path / "out"
    output.mkdir()

    result = run([*COOKIECUTTER, "--replay-file", str(replay), str(TEMPLATE), "-o", str(output)])

    assert result.returncode != 0
    assert (
        "ERROR: database 'Postgres' is invalid: it must be one of: none, postgres. Try: 'postgres'"
    ) in result.stderr.splitlines()
    assert list(output.iterdir()) == []  # cookiecutter removes the folder the hook refused
