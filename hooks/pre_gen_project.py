"""Validate the answers before cookiecutter generates anything.

Each answer reaches this script as data: cookiecutter renders it with
`| tojson` into a raw string that `json.loads` reads back, so quotes,
backslashes or code in an answer can never become part of this program.

On bad input: one `ERROR: <field> '<value>' is invalid: <rule>. Try: <fix>` line
per problem on stderr, exit status 1. No `assert`: `python -O` would skip it.

cookiecutter creates the project folder before this hook runs, so
local_extensions.py runs these same checks (it imports this file) while the
answers are rendered, before anything exists on disk. This hook is the second
line: it also guards generation with extensions or hooks disabled.
"""

import json
import keyword
import re
import sys

SUPPORTED_PYTHON_VERSIONS = ("3.11", "3.12", "3.13")
RUNTIME_FLAVORS = ("slim", "minimal")
DATABASES = ("none", "postgres")
DEPENDENCY_WORKFLOWS = ("requirements", "uv")
# Words of a-z0-9 joined by single underscores: a Python identifier whose
# dashed form (my-service) is also a valid Docker image and Kubernetes name.
SLUG_PATTERN = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
# Long enough for any real name; short enough that generated lines that embed
# it (settings prefix, image name) stay within the 100-column lint limit.
SLUG_MAX_LENGTH = 40
PORT_RANGE = (1, 65535)
# Below 1000 are system accounts on most distributions; 2**31 - 1 is the
# largest ID every tool (and Kubernetes) accepts.
UID_RANGE = (1000, 2_147_483_647)



def rendered_answers() -> dict[str, object]:
    """The answers, as cookiecutter rendered them into this file: JSON data."""
    return {
        "project_slug": json.loads(r'''{{ cookiecutter.project_slug | tojson }}'''),
        "python_version": json.loads(r'''{{ cookiecutter.python_version | tojson }}'''),
        "http_port": json.loads(r'''{{ cookiecutter.http_port | tojson }}'''),
        "runtime_uid": json.loads(r'''{{ cookiecutter.runtime_uid | tojson }}'''),
        "runtime_flavor": json.loads(r'''{{ cookiecutter.runtime_flavor | tojson }}'''),
        "database": json.loads(r'''{{ cookiecutter.database | tojson }}'''),
        "dependency_workflow": json.loads(r'''{{ cookiecutter.dependency_workflow | tojson }}'''),
    }


def check_slug(slug: object) -> str | None:
    """The slug names the folder, the image and the settings prefix."""
    text = str(slug)
    if not SLUG_PATTERN.fullmatch(text):
        return (
            "it must be lowercase words of a-z and 0-9 joined by single underscores, "
            "starting with a letter. "
            f"Try: {suggest_slug(text)!r}"
        )
    if len(text) > SLUG_MAX_LENGTH:
        return f"it is longer than {SLUG_MAX_LENGTH} characters. Try: {text[:SLUG_MAX_LENGTH]!r}"
    if keyword.iskeyword(text):
        return f"it is a Python keyword. Try: '{text}_service'"
    if text in sys.stdlib_module_names:
        return f"it shadows the standard-library module {text!r}. Try: '{text}_service'"
    return None


def suggest_slug(text: str) -> str:
    """A valid slug close to what the user typed."""
    candidate = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    if not candidate or candidate[0].isdigit():
        candidate = f"service_{candidate}".rstrip("_")
    return candidate


def check_python_version(version: object) -> str | None:
    """Only versions with an official slim image and a tested lock are offered."""
    if str(version) in SUPPORTED_PYTHON_VERSIONS:
        return None
    return f"it is not supported. Try: one of {', '.join(SUPPORTED_PYTHON_VERSIONS)}"


def check_choice(value: object, choices: tuple[str, ...]) -> str | None:
    """One of a fixed set of answers."""
    if str(value) in choices:
        return None
    return f"it must be one of: {', '.join(choices)}. Try: {choices[0]!r}"


def check_int_range(value: object, bounds: tuple[int, int], example: int) -> str | None:
    """Whole numbers only (as typed at the prompt or given as JSON), within bounds."""
    low, high = bounds
    text = str(value).strip()
    # No leading zero: 08080 would be rendered into Python code as a number.
    if isinstance(value, bool) or not re.fullmatch(r"[1-9][0-9]*", text):
        return f"it must be a whole number from {low} to {high}. Try: {example}"
    if not low <= int(text) <= high:
        return f"it must be from {low} to {high}. Try: {example}"
    return None


def problems(answers: dict[str, object]) -> list[str]:
    """Every invalid answer, as a ready-to-print message."""
    checks = {
        "project_slug": check_slug(answers["project_slug"]),
        "python_version": check_python_version(answers["python_version"]),
        "http_port": check_int_range(answers["http_port"], PORT_RANGE, 8000),
        "runtime_uid": check_int_range(answers["runtime_uid"], UID_RANGE, 10001),
        "runtime_flavor": check_choice(answers["runtime_flavor"], RUNTIME_FLAVORS),
        "database": check_choice(answers["database"], DATABASES),
        "dependency_workflow": check_choice(answers["dependency_workflow"], DEPENDENCY_WORKFLOWS),
    }
    return [
        f"ERROR: {field} {str(answers[field])!r} is invalid: {message}"
        for field, message in checks.items()
        if message
    ]


def main() -> int:
    errors = problems(rendered_answers())
    for error in errors:
        print(error, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
