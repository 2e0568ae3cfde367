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


def test_generated_readme_names_the_other_runtime_to_switch_to(bake):
    for flavor, other in [("slim", "minimal"), ("minimal", "slim")]:
        readme = (bake({"runtime_flavor": flavor}).project_path / "README.md").read_text()

        assert f"ships `runtime-{flavor}`" in readme
        assert f"RUNTIME_STAGE=runtime-{other}'" in readme
        assert f"RUNTIME_STAGE=runtime-{flavor}'" not in readme


def test_generated_readme_shows_the_example_route_and_the_loopback_hint(bake):
    readme = (bake({"http_port": 8123}).project_path / "README.md").read_text()

    # The generated project's own tests/test_readme.py requests this line's URL.
    assert re.search(r"^curl http://127\.0\.0\.1:8123/api/v1/greetings/Ada +# \{", readme, re.M)
    assert "`127.0.0.1` and `localhost` are the builder itself" in readme
    assert "--network host" in readme
