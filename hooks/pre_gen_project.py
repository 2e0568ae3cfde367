"""Validate the answers before cookiecutter generates anything.

Each answer reaches this script as data: cookiecutter renders it with
`| tojson` into a raw string that `json.loads` reads back, so quotes,
backslashes or code in an answer can never become part of this program.

On bad input: one `ERROR: <field> '<value>' is invalid: <rule>. Try: <fix>` line
per problem on stderr, exit status 1. No `assert`: `python -O` would skip it.

cookiecutter creates the project folder before this hook runs, so
local_extensions.py runs these same checks (it imports this file) while the
answers are rendered, right after each answer that has a rule, before anything
exists on disk. `problems` therefore checks only the answers given so far. This
hook is the second line: it also guards generation with extensions disabled.
"""

import difflib
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
    return check_choice(version, SUPPORTED_PYTHON_VERSIONS)


def check_choice(value: object, choices: tuple[str, ...]) -> str | None:
    """One of a fixed set of answers (a menu at the prompt; typed on the command line)."""
    if str(value) in choices:
        return None
    return f"it must be one of: {', '.join(choices)}. Try: {nearest_choice(str(value), choices)!r}"


def nearest_choice(text: str, choices: tuple[str, ...]) -> str:
    """The valid answer closest to what was typed: `Postgres` -> `postgres`, `3.10` -> `3.11`.

    Case and surrounding blanks are ignored first; then the closest spelling
    wins (difflib), ties going to the choice listed first. Versions compare
    by number, so `3.14` suggests `3.13`, not the first version listed.
    """
    typed = text.strip().casefold()
    if re.fullmatch(r"\d+\.\d+", typed) and all(re.fullmatch(r"\d+\.\d+", c) for c in choices):
        return min(choices, key=lambda choice: abs(version_number(choice) - version_number(typed)))
    return max(choices, key=lambda c: difflib.SequenceMatcher(None, typed, c.casefold()).ratio())


def version_number(text: str) -> int:
    """The version as one number (3.12 -> 312), so versions compare by distance."""
    major, minor = text.split(".")
    return int(major) * 100 + int(minor)


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


# field: (the answers its rule reads, the rule). A rule runs once all the
# answers it reads have been given, so an error is reported right after the
# answer that completes it.
RULES = {
    "project_slug": (("project_slug",), check_slug),
    "python_version": (("python_version",), check_python_version),
    "http_port": (("http_port",), lambda port: check_int_range(port, PORT_RANGE, 8000)),
    "runtime_uid": (("runtime_uid",), lambda uid: check_int_range(uid, UID_RANGE, 10001)),
    "dependency_workflow": (
        ("dependency_workflow",),
        lambda workflow: check_choice(workflow, DEPENDENCY_WORKFLOWS),
    ),
    "runtime_flavor": (("runtime_flavor",), lambda flavor: check_choice(flavor, RUNTIME_FLAVORS)),
    "database": (("database",), lambda database: check_choice(database, DATABASES)),
}


def problems(answers: dict[str, object]) -> list[str]:
    """Every invalid answer among those given so far, as a ready-to-print message."""
    errors = []
    for field, (reads, rule) in RULES.items():
        if all(name in answers for name in reads):
            message = rule(*(answers[name] for name in reads))
            if message:
                errors.append(f"ERROR: {field} {str(answers[field])!r} is invalid: {message}")
    return errors


def main() -> int:
    errors = problems(rendered_answers())
    for error in errors:
        print(error, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
