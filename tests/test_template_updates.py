"""Template updates: a project created with cruft takes a newer template revision.

Offline, with local git repositories only: a throwaway clone of this template
repository at HEAD (uncommitted changes are not part of it), a project created
from it with `cruft create`, then a new template commit. `cruft update` must
bring the template's changes in without conflicts while keeping the project's
own edits, and `cruft check` must tell "behind" from "up to date".
"""

import os
import shutil
import sys
from pathlib import Path

import pytest
from conftest import TEMPLATE, run

SLUG_DIR = "{{cookiecutter.project_slug}}"
# The template's new revision: a rendered line in an existing file, and a new file.
README_ADDITION = "Updated from the template for {{ cookiecutter.project_slug }}.\n"
NEW_FILE = "docs/from-a-newer-template.md"
# The team's own edit, made in the generated project before the update.
LOCAL_EDIT = "Local note: kept across template updates.\n"


def cruft() -> str:
    local = Path(sys.executable).parent / "cruft"
    found = str(local) if local.exists() else shutil.which("cruft")
    if not found:
        pytest.fail("cruft is not installed: pip install -r requirements-test.txt")
    return found


@pytest.fixture
def git_env(tmp_path) -> dict[str, str]:
    """Git (also when cruft runs it) with no user or system config: no signing,
    no hooks, no templates from this machine, and a fixed identity. The empty
    HOME also keeps a personal ~/.cookiecutterrc out of cruft's renderings."""
    home = tmp_path / "home"
    home.mkdir()
    inherited = {k: v for k, v in os.environ.items() if k != "COOKIECUTTER_CONFIG"}
    return {
        **inherited,
        "HOME": str(home),
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Template Test",
        "GIT_AUTHOR_EMAIL": "template-test@example.invalid",
        "GIT_COMMITTER_NAME": "Template Test",
        "GIT_COMMITTER_EMAIL": "template-test@example.invalid",
    }


def check(cwd: Path, env: dict[str, str], *command: str) -> str:
    """Run a command that must succeed; return its output."""
    result = run(list(command), cwd=cwd, env=env)
    assert result.returncode == 0, f"{command}:\n{result.stdout}{result.stderr}"
    return result.stdout


def commit_all(repo: Path, message: str, env: dict[str, str]) -> None:
    check(repo, env, "git", "add", "--all")
    check(repo, env, "git", "commit", "--quiet", "--no-verify", "--message", message)


def conflict_leftovers(project: Path) -> list[str]:
    """Files `git apply` leaves when a hunk does not apply: *.rej, *.orig, or markers."""
    found = []
    for path in project.rglob("*"):
        if ".git" in path.relative_to(project).parts or not path.is_file():
            continue
        if path.suffix in {".rej", ".orig"}:
            found.append(str(path.relative_to(project)))
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if any(line.startswith(("<<<<<<< ", ">>>>>>> ")) for line in text.splitlines()):
            found.append(str(path.relative_to(project)))
    return found


@pytest.mark.slow  # about 5 s: two git repositories, three template renderings
def test_cruft_update_brings_template_changes(tmp_path, git_env):
    template, projects = tmp_path / "template", tmp_path / "projects"
    check(tmp_path, git_env, "git", "clone", "--quiet", str(TEMPLATE), str(template))
    projects.mkdir()
    check(projects, git_env, cruft(), "create", "--no-input", str(template))
    (project,) = projects.iterdir()
    assert (project / ".cruft.json").is_file()
    check(project, git_env, "git", "init", "--quiet")
    commit_all(project, "Start from slim-python", git_env)
    check(project, git_env, cruft(), "check")

    # The team edits the project; the template moves on meanwhile.
    readme = project / "README.md"
    readme.write_text(LOCAL_EDIT + readme.read_text(encoding="utf-8"), encoding="utf-8")
    commit_all(project, "Local edit", git_env)
    template_readme = template / SLUG_DIR / "README.md"
    with template_readme.open("a", encoding="utf-8") as stream:
        stream.write("\n" + README_ADDITION)
    (template / SLUG_DIR / NEW_FILE).parent.mkdir(exist_ok=True)
    (template / SLUG_DIR / NEW_FILE).write_text("# New in the template\n", encoding="utf-8")
    commit_all(template, "A newer template revision", git_env)
    new_commit = check(template, git_env, "git", "rev-parse", "HEAD").strip()

    behind = run([cruft(), "check"], cwd=project, env=git_env)
    assert behind.returncode != 0, "cruft check must report a project behind its template"

    check(project, git_env, cruft(), "update", "--skip-apply-ask", "--allow-untracked-files")

    text = readme.read_text(encoding="utf-8")
    slug = project.name
    assert f"Updated from the template for {slug}." in text  # rendered, not raw Jinja
    assert text.startswith(LOCAL_EDIT)  # the project's own edit survived
    assert (project / NEW_FILE).read_text(encoding="utf-8") == "# New in the template\n"
    assert conflict_leftovers(project) == []
    assert f'"commit": "{new_commit}"' in (project / ".cruft.json").read_text(encoding="utf-8")
    check(project, git_env, cruft(), "check")


def test_conflict_detection_can_fail(tmp_path):
    # The leftover check above must see what a failed merge leaves behind.
    (tmp_path / "README.md.rej").write_text("@@ -1 +1 @@\n", encoding="utf-8")
    (tmp_path / "app.py").write_text("<<<<<<< ours\na = 1\n=======\na = 2\n>>>>>>> theirs\n")
    (tmp_path / "clean.md").write_text("a line with <<<<<<< inside is fine\n", encoding="utf-8")

    assert sorted(conflict_leftovers(tmp_path)) == ["README.md.rej", "app.py"]
