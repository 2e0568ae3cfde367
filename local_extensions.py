"""Jinja extension that cookiecutter loads for this template (see `_extensions`).

It guards one thing the pre-generation hook cannot: cookiecutter creates the
project folder *before* that hook runs, and a slug with a path separator in it
("a/b") creates nested folders. When the hook then rejects the slug, cookiecutter
removes only the innermost folder and leaves "a/" behind. Failing while the
answers are rendered stops cookiecutter before it creates anything. The full
validation of every answer stays in hooks/pre_gen_project.py.
"""

from cookiecutter.exceptions import FailedHookException
from jinja2 import Environment
from jinja2.ext import Extension


def single_folder_name(value: object, field: str) -> str:
    """Return `value` unchanged if it names one folder; fail the rendering otherwise."""
    text = str(value)
    if "/" in text or "\\" in text or text in {".", ".."}:
        # The exception a failing hook raises: cookiecutter prints just the
        # message and exits with status 1.
        raise FailedHookException(
            f"ERROR: {field} {text!r} is invalid: it must name a single folder, "
            "without '/' or '\\'. Try: a lowercase Python identifier such as 'my_service'."
        )
    return text


class PathSafeSlug(Extension):
    """Adds the `single_folder_name` filter used by cookiecutter.json."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters["single_folder_name"] = single_folder_name
