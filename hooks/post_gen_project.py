"""Finish the generated project, then print the next steps.

Offline and deterministic: no network, no git commands, no prompts.
Optional files are chosen here with a small table, never with `{% raw %}{% if %}{% endraw %}` blocks
inside code, so every generated file stays readable by ruff, hadolint and uv.
"""

import json
import shutil
import sys
from pathlib import Path

ANSWERS = {
    "project_slug": json.loads(r'''{{ cookiecutter.project_slug | tojson }}'''),
    "kubernetes": json.loads(r'''{{ cookiecutter.kubernetes | tojson }}'''),
    "database": json.loads(r'''{{ cookiecutter.database | tojson }}'''),
}

# {(question, answer): paths to delete}. A path that is already gone is a bug
# in this table, so deletion is strict.
REMOVE_WHEN: dict[tuple[str, str], list[str]] = {
    ("kubernetes", "False"): ["deploy"],
}

# {(question, answer): {file: its variant under _variants/}}: the variant
# replaces the default file. Variants are whole files, so each stays plain
# Python, YAML or text that linters read as it is.
VARIANTS = "_variants"
REPLACE_WHEN: dict[tuple[str, str], dict[str, str]] = {
    ("database", "postgres"): {
        "app/resources.py": "postgres/app/resources.py",
        "compose.yaml": "postgres/compose.yaml",
        "docker/build-packages.txt": "postgres/docker/build-packages.txt",
        "docker/runtime-packages.txt": "postgres/docker/runtime-packages.txt",
        "requirements.in": "postgres/requirements.in",
        "requirements.txt": "postgres/requirements.txt",
        "requirements-dev.in": "postgres/requirements-dev.in",
        "requirements-dev.txt": "postgres/requirements-dev.txt",
        "tests/test_database.py": "postgres/tests/test_database.py",
    },
}


def remove_unselected(project: Path, answers: dict[str, object]) -> None:
    """Delete the files that belong to options the user did not choose."""
    for (question, answer), paths in REMOVE_WHEN.items():
        if str(answers.get(question)) != answer:
            continue
        for relative in paths:
            path = project / relative
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()


def apply_variants(project: Path, answers: dict[str, object]) -> None:
    """Move the chosen variants into place, then drop every unused one."""
    for (question, answer), files in REPLACE_WHEN.items():
        if str(answers.get(question)) != answer:
            continue
        for destination, variant in files.items():
            (project / VARIANTS / variant).replace(project / destination)
    shutil.rmtree(project / VARIANTS)


def next_steps(slug: str) -> str:
    return "\n".join(
        [
            f"Created {slug}/. Next:",
            f"  cd {slug}",
            "  git init && git add -A && git commit -m 'Start from slim-python'",
            "  make setup test      # virtualenv from the hashed lock, then the tests",
            "  make docker-build docker-smoke   # build the image and prove it works",
        ]
    )


def main() -> int:
    remove_unselected(Path.cwd(), ANSWERS)
    apply_variants(Path.cwd(), ANSWERS)
    print(next_steps(str(ANSWERS["project_slug"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
