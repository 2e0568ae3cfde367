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
    "include_docs": json.loads(r'''{{ cookiecutter.include_docs | tojson }}'''),
    "database": json.loads(r'''{{ cookiecutter.database | tojson }}'''),
    "dependency_workflow": json.loads(r'''{{ cookiecutter.dependency_workflow | tojson }}'''),
}

# Variants are whole files kept under _variants/, so each stays plain Python,
# YAML or text that linters read as it is. Each rule: (the answers it needs,
# {file in the project: the variant that replaces it}). Files that differ by a
# few lines (pyproject.toml, the GitHub files) use a small Jinja block instead.
VARIANTS = "_variants"
REPLACE_WHEN: list[tuple[dict[str, str], dict[str, str]]] = [
    (
        {"database": "postgres"},
        {
            "alembic.ini": "postgres/alembic.ini",
            "app/migrate.py": "postgres/app/migrate.py",
            "app/migrations": "postgres/app/migrations",
            "app/resources.py": "postgres/app/resources.py",
            "compose.yaml": "postgres/compose.yaml",
            "docker/build-packages.txt": "postgres/docker/build-packages.txt",
            "docker/build-requirements.in": "postgres/docker/build-requirements.in",
            "docker/build-requirements.txt": "postgres/docker/build-requirements.txt",
            "docker/runtime-packages.txt": "postgres/docker/runtime-packages.txt",
            "tests/test_database.py": "postgres/tests/test_database.py",
            "tests/test_migrations.py": "postgres/tests/test_migrations.py",
        },
    ),
    (
        {"database": "postgres", "dependency_workflow": "requirements"},
        {
            "requirements.in": "postgres/requirements.in",
            "requirements.txt": "postgres/requirements.txt",
            "requirements-dev.in": "postgres/requirements-dev.in",
            "requirements-dev.txt": "postgres/requirements-dev.txt",
        },
    ),
    ({"dependency_workflow": "uv"}, {"deps.mk": "uv/deps.mk"}),
]

# Paths to delete for an answer, after the variants are in place. A path that
# is already gone is a bug in this table, so deletion is strict.
REMOVE_WHEN: list[tuple[dict[str, str], list[str]]] = [
    ({"kubernetes": "False"}, ["deploy"]),
    ({"include_docs": "False"}, ["docs/dockerfile.md"]),
    # uv projects list their dependencies in pyproject.toml; `make lock` writes
    # uv.lock and exports requirements.txt from it.
    (
        {"dependency_workflow": "uv"},
        ["requirements.in", "requirements.txt", "requirements-dev.in", "requirements-dev.txt"],
    ),
]


def applies(conditions: dict[str, str], answers: dict[str, object]) -> bool:
    return all(str(answers.get(question)) == answer for question, answer in conditions.items())


def apply_variants(project: Path, answers: dict[str, object]) -> None:
    """Move the chosen variants into place, then drop every unused one."""
    for conditions, files in REPLACE_WHEN:
        if applies(conditions, answers):
            for destination, variant in files.items():
                (project / VARIANTS / variant).replace(project / destination)
    shutil.rmtree(project / VARIANTS)


def remove_unselected(project: Path, answers: dict[str, object]) -> None:
    """Delete the files that belong to options the user did not choose."""
    for conditions, paths in REMOVE_WHEN:
        if not applies(conditions, answers):
            continue
        for relative in paths:
            path = project / relative
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()


def next_steps(slug: str) -> str:
    return "\n".join(
        [
            f"Created {slug}/. Next:",
            f"  cd {slug}",
            "  git init && git add -A && git commit -m 'Start from slim-python'",
            "  make setup test      # virtualenv from the hashed lock, then the tests",
            "  make docker-check    # build the image and prove it, inside and out",
        ]
    )


def main() -> int:
    apply_variants(Path.cwd(), ANSWERS)
    remove_unselected(Path.cwd(), ANSWERS)
    print(next_steps(str(ANSWERS["project_slug"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
