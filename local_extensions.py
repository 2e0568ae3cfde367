"""Jinja extension that cookiecutter loads for this template (see `_extensions`).

It adds two filters:
- `toml_string` quotes free text (name, description, author) for TOML files;
- `validate_answers` validates the answers given so far while cookiecutter
  renders them, before anything is written. cookiecutter.json applies it right
  after each answer that has a rule (`__<answer>_is_valid`), so a bad first
  answer stops the questions at once. hooks/pre_gen_project.py holds the rules;
  that hook alone would run too late: cookiecutter creates the project folder
  before running it, so a slug such as "a/b" leaves an empty "a/" behind after
  the cleanup, and cookiecutter prints its own traceback when a hook fails.
"""

import importlib.util
import json
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

from cookiecutter.exceptions import FailedHookException
from jinja2 import Environment
from jinja2.ext import Extension

PRE_GEN_HOOK = Path(__file__).resolve().parent / "hooks" / "pre_gen_project.py"


def load_pre_gen_hook() -> ModuleType:
    """Import the hook file as it is in the template (valid Python before rendering)."""
    spec = importlib.util.spec_from_file_location("slim_python_pre_gen_rules", PRE_GEN_HOOK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def validate_answers(answers: Mapping[str, object]) -> str:
    """Return "ok" if the answers given so far are valid; otherwise stop with their ERROR lines."""
    errors = load_pre_gen_hook().problems(dict(answers))
    if errors:
        # The exception a failing hook raises: cookiecutter prints just the
        # message and exits with status 1.
        raise FailedHookException("\n".join(errors))
    return "ok"


def toml_string(value: object) -> str:
    """Quote any text as a TOML basic string.

    Jinja's `tojson` is not enough: it writes emoji as surrogate pairs
    (\\ud83d\\ude80), which TOML rejects. JSON without ASCII escaping is valid
    TOML once DEL, the one control character JSON leaves raw, is escaped.
    """
    return json.dumps(str(value), ensure_ascii=False).replace("\x7f", "\\u007f")


class TemplateFilters(Extension):
    """Adds the filters used by cookiecutter.json and the template files."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters["validate_answers"] = validate_answers
        environment.filters["toml_string"] = toml_string
