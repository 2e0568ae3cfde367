"""The option combinations the template supports, and ones it must refuse.

Each supported combination is a small override of cookiecutter.json's defaults
with a readable id (shown by pytest as e.g. `test_renders[python:3.13]`).
Every test that takes `combination` runs for each of them.
"""

import itertools

import pytest

# Every combination of the four options that shape the build: Python version x
# dependency workflow x runtime flavour x database (3 x 2 x 2 x 2 = 24). Each
# renders, lints and passes its own test suite; README calls all of them
# supported. Ids name only what differs from the defaults ("default" for none).
MATRIX_OPTIONS = {
    "python_version": ("3.12", "3.11", "3.13"),
    "dependency_workflow": ("requirements", "uv"),
    "runtime_flavor": ("slim", "minimal"),
    "database": ("none", "postgres"),
}
ID_PREFIX = {
    "python_version": "python",
    "dependency_workflow": "deps",
    "runtime_flavor": "runtime",
    "database": "db",
}


def matrix() -> list:
    params = []
    for values in itertools.product(*MATRIX_OPTIONS.values()):
        answers = dict(zip(MATRIX_OPTIONS, values, strict=True))
        changed = {k: v for k, v in answers.items() if v != MATRIX_OPTIONS[k][0]}
        name = "-".join(f"{ID_PREFIX[k]}:{v}" for k, v in changed.items()) or "default"
        params.append(pytest.param(changed, id=name))
    return params


SUPPORTED = [
    *matrix(),
    # The other answers, at their edges.
    pytest.param({"kubernetes": True}, id="kubernetes"),
    pytest.param({"include_docs": False}, id="docs:no"),
    pytest.param(
        {"kubernetes": True, "database": "postgres", "runtime_flavor": "minimal"},
        id="kubernetes-db:postgres-runtime:minimal",
    ),
    pytest.param(
        {"database": "postgres", "project_slug": "a_rather_long_service_name_of_forty_char"},
        id="db:postgres-slug:40-chars",
    ),
    pytest.param(
        {"http_port": 65535, "runtime_uid": 2147483647},
        id="port:65535-uid:max",
    ),
    pytest.param(
        # The longest slug allowed: generated lines that embed it must still lint.
        {"project_name": "Long", "project_slug": "a_rather_long_service_name_of_forty_char"},
        id="slug:40-chars",
    ),
    pytest.param(
        {"project_name": "Zoë's Café", "project_slug": "zoe_cafe", "author": 'Ada "A" O\'Neil'},
        id="name:unicode-quotes",
    ),
]

# (overrides, the field the error must name)
UNSUPPORTED = [
    pytest.param({"project_slug": "My Service!"}, "project_slug", id="slug:spaces"),
    pytest.param({"project_slug": "class"}, "project_slug", id="slug:keyword"),
    pytest.param({"project_slug": "json"}, "project_slug", id="slug:stdlib"),
    pytest.param({"project_slug": "a/b"}, "project_slug", id="slug:slash"),
    pytest.param({"project_slug": "a\\b"}, "project_slug", id="slug:backslash"),
    pytest.param({"project_slug": "9lives"}, "project_slug", id="slug:digit-first"),
    pytest.param({"project_slug": "a" * 41}, "project_slug", id="slug:too-long"),
    pytest.param({"project_slug": "_svc"}, "project_slug", id="slug:leading-underscore"),
    pytest.param({"project_slug": "a__b"}, "project_slug", id="slug:double-underscore"),
    pytest.param({"http_port": "08080"}, "http_port", id="port:leading-zero"),
    pytest.param({"http_port": 0}, "http_port", id="port:0"),
    pytest.param({"http_port": 65536}, "http_port", id="port:65536"),
    pytest.param({"http_port": "80a"}, "http_port", id="port:not-a-number"),
    pytest.param({"runtime_uid": 0}, "runtime_uid", id="uid:root"),
    pytest.param({"runtime_uid": 999}, "runtime_uid", id="uid:system-range"),
    pytest.param({"runtime_uid": 2147483648}, "runtime_uid", id="uid:too-big"),
]

# Answers to a choice variable (a numbered menu at the prompt) that are not
# among its choices, given on the command line: (overrides, the variable, its
# choices, the nearest valid answer our rules suggest).
UNSUPPORTED_CHOICES = [
    pytest.param(
        {"database": "Postgres"}, "database", ["none", "postgres"], "postgres", id="db:Postgres"
    ),
    pytest.param(
        {"database": "mysql"}, "database", ["none", "postgres"], "postgres", id="db:mysql"
    ),
    pytest.param(
        {"runtime_flavor": " minimal"},
        "runtime_flavor",
        ["slim", "minimal"],
        "minimal",
        id="runtime:space-minimal",
    ),
    pytest.param(
        {"runtime_flavor": "alpine"},
        "runtime_flavor",
        ["slim", "minimal"],
        "slim",
        id="runtime:alpine",
    ),
    pytest.param(
        {"dependency_workflow": "poetry"},
        "dependency_workflow",
        ["requirements", "uv"],
        "requirements",
        id="deps:poetry",
    ),
    pytest.param(
        {"python_version": "3.10"},
        "python_version",
        ["3.12", "3.11", "3.13"],
        "3.11",
        id="python:3.10",
    ),
    pytest.param(
        {"python_version": "3.14"},
        "python_version",
        ["3.12", "3.11", "3.13"],
        "3.13",
        id="python:3.14",
    ),
]
