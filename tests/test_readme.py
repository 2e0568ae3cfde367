"""README.md documents every option in cookiecutter.json, and nothing else."""

import re

from conftest import TEMPLATE, cookiecutter_defaults


def documented_options() -> list[str]:
    readme = (TEMPLATE / "README.md").read_text()
    section = readme.split("## Options", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.MULTILINE)


def test_every_prompt_is_in_the_options_table():
    prompts = [key for key in cookiecutter_defaults() if not key.startswith("_")]

    assert sorted(documented_options()) == sorted(prompts)


def test_every_prompt_has_a_plain_english_question():
    defaults = cookiecutter_defaults()
    prompts = [key for key in defaults if not key.startswith("_")]

    assert sorted(defaults["__prompts__"]) == sorted(prompts)
