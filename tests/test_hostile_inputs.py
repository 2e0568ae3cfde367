"""Hostile answers in free-text fields produce valid files, and never run.

Name, description and author land in README.md and pyproject.toml only (never
in Python source); pyproject.toml embeds them as JSON strings, which are valid
TOML. A value that breaks the derived slug is refused by validation instead.
"""

import ast
import tomllib

import pytest
from conftest import run

MARKER = "PWNED_BY_TEMPLATE_INPUT"
PAYLOADS = [
    pytest.param("O'Brien's \"quoted\" service", id="quotes"),
    pytest.param("back\\slash \\n \\u0041 \\\\", id="backslashes"),
    pytest.param("Zoë 🚀 ünïcödé 服务", id="unicode"),
    pytest.param("first line\nsecond line", id="newline"),
    pytest.param(f"'''; __import__('os').system('touch {MARKER}'); '''", id="python-payload"),
    pytest.param(f'"""; __import__("os").system("touch {MARKER}"); """', id="python-payload-dq"),
    pytest.param(f"$(touch {MARKER}) `touch {MARKER}`", id="shell-payload"),
    pytest.param(f'description = "x"\n[evil]\ncmd = "touch {MARKER}"', id="toml-payload"),
]


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("field", ["project_name", "description", "author"])
def test_hostile_text_is_rendered_safely(bake, tmp_path, monkeypatch, field, payload):
    monkeypatch.chdir(tmp_path)
    result = bake({field: payload, "project_slug": "safe_service"})

    assert result.exit_code == 0, result.exception
    project = result.project_path
    for path in project.rglob("*.py"):
        ast.parse(path.read_text(), filename=str(path))
    document = tomllib.loads((project / "pyproject.toml").read_text())
    assert "evil" not in document  # the payload stayed inside its string
    metadata = document["project"]
    if field == "description":
        assert metadata["description"] == payload
    if field == "author":
        assert metadata["authors"] == [{"name": payload}]
    make = run(["make", "--no-print-directory", "help"], cwd=project)
    assert make.returncode == 0, make.stderr
    assert not list(tmp_path.rglob(MARKER))
    assert not list(project.rglob(MARKER))


@pytest.mark.parametrize("payload", ["bad'name", "semi;colon", "new\nline"])
def test_name_that_breaks_the_derived_slug_is_refused(bake, payload):
    result = bake({"project_name": payload})

    assert result.exit_code != 0
    assert "project_slug" in str(result.exception)
