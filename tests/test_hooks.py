"""Unit tests of the hooks, rendered exactly the way cookiecutter renders them."""

import importlib.util
import json
import subprocess
import sys

import pytest
from conftest import TEMPLATE, cookiecutter_defaults, cookiecutter_json
from cookiecutter.environment import StrictEnvironment
from cookiecutter.exceptions import FailedHookException
from cookiecutter.generate import generate_context
from cookiecutter.main import cookiecutter
from cookiecutter.prompt import prompt_for_config

import local_extensions

# Quotes of every kind and a code payload. (Backslashes never reach the hook:
# local_extensions.py refuses them first; see test_rendering.py.)
HOSTILE = "x'''\"\"\" '; __import__('os').system('touch PWNED') #"


def rendered_context(**overrides) -> dict:
    context = generate_context(
        context_file=str(TEMPLATE / "cookiecutter.json"), extra_context=overrides
    )
    # Skip the validating extension: these tests feed the hooks bad answers on purpose.
    for key in [k for k in context["cookiecutter"] if k.endswith(("_is_valid", "_are_valid"))]:
        del context["cookiecutter"][key]
    context["cookiecutter"] = prompt_for_config(context, no_input=True)
    return context


def render_hook(tmp_path, name: str, **overrides):
    """Render hooks/<name>.py with cookiecutter's Jinja environment and import it."""
    context = rendered_context(**overrides)
    environment = StrictEnvironment(context=context, keep_trailing_newline=True)
    source = (TEMPLATE / "hooks" / f"{name}.py").read_text()
    path = tmp_path / f"{name}.py"
    path.write_text(environment.from_string(source).render(**context))
    spec = importlib.util.spec_from_file_location(f"rendered_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, path


@pytest.fixture
def pre_gen(tmp_path):
    return render_hook(tmp_path, "pre_gen_project")[0]


@pytest.mark.parametrize("slug", ["my_service", "svc2", "a1_b2", "payments_api"])
def test_valid_slugs_pass(pre_gen, slug):
    assert pre_gen.check_slug(slug) is None


@pytest.mark.parametrize(
    ("slug", "reason"),
    [
        ("My Service!", "lowercase words"),
        ("2fast", "lowercase words"),
        ("with-dash", "lowercase words"),
        ("", "lowercase words"),
        ("_private", "lowercase words"),
        ("trailing_", "lowercase words"),
        ("a__b", "lowercase words"),
        ("class", "keyword"),
        ("import", "keyword"),
        ("json", "standard-library"),
        ("asyncio", "standard-library"),
        ("x" * 41, "longer than 40"),
    ],
)
def test_invalid_slugs_say_why_and_how_to_fix(pre_gen, slug, reason):
    message = pre_gen.check_slug(slug)

    assert reason in message
    assert "Try: " in message


def test_suggested_slug_is_itself_valid(pre_gen):
    for typed in ["My Service!", "2fast", "--", "Ünïcode Name"]:
        suggestion = pre_gen.suggest_slug(typed)
        assert pre_gen.check_slug(suggestion) is None, (typed, suggestion)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (8000, True),
        ("8000", True),
        (1, True),
        (65535, True),
        (0, False),
        (65536, False),
        ("80a", False),
        ("08080", False),
        (-1, False),
        (True, False),
        ("8000.0", False),
        (" ", False),
    ],
)
def test_port_range(pre_gen, value, ok):
    assert (pre_gen.check_int_range(value, pre_gen.PORT_RANGE, 8000) is None) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (10001, True),
        (1000, True),
        (2147483647, True),
        (0, False),
        (999, False),
        (2147483648, False),
        ("root", False),
    ],
)
def test_uid_range(pre_gen, value, ok):
    assert (pre_gen.check_int_range(value, pre_gen.UID_RANGE, 10001) is None) is ok


@pytest.mark.parametrize(
    ("variable", "constant"),
    [
        ("python_version", "SUPPORTED_PYTHON_VERSIONS"),
        ("dependency_workflow", "DEPENDENCY_WORKFLOWS"),
        ("runtime_flavor", "RUNTIME_FLAVORS"),
        ("database", "DATABASES"),
    ],
)
def test_the_rules_accept_exactly_the_menus_choices(pre_gen, variable, constant):
    assert sorted(getattr(pre_gen, constant)) == sorted(cookiecutter_json()[variable])


def test_rules_check_only_the_answers_given_so_far(pre_gen):
    # The extension validates after each answer; later answers do not exist yet.
    assert pre_gen.problems({"project_slug": "my_service"}) == []
    assert pre_gen.problems({"project_slug": "class"})[0].startswith("ERROR: project_slug ")


def test_each_rule_runs_right_after_its_answer():
    """cookiecutter renders a `__<answer>_is_valid` key right after each free-text answer
    with a rule (and one after the last choice), so a bad answer stops the questions."""
    keys = list(cookiecutter_json())
    checks = [k for k in keys if k.startswith("__") and k.endswith(("_is_valid", "_are_valid"))]

    assert checks == [
        "__project_slug_is_valid",
        "__http_port_is_valid",
        "__runtime_uid_is_valid",
        "__answers_are_valid",
    ]
    for answer in ("project_slug", "http_port", "runtime_uid"):
        assert keys[keys.index(answer) + 1] == f"__{answer}_is_valid"
    assert keys.index("__answers_are_valid") == keys.index("database") + 1


def test_main_prints_one_error_per_bad_answer_and_exits_1(tmp_path):
    _, path = render_hook(
        tmp_path, "pre_gen_project", project_slug="class", http_port="0", runtime_uid="0"
    )

    result = subprocess.run([sys.executable, str(path)], capture_output=True, text=True)

    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert [line.split(" ")[1] for line in lines] == ["project_slug", "http_port", "runtime_uid"]
    assert all(line.startswith("ERROR: ") and "Try: " in line for line in lines)


def test_main_accepts_the_defaults(tmp_path):
    _, path = render_hook(tmp_path, "pre_gen_project")

    result = subprocess.run([sys.executable, str(path)], capture_output=True, text=True)

    assert (result.returncode, result.stderr) == (0, "")


def test_hostile_slug_is_data_not_code(tmp_path):
    # Quotes of every kind and a code payload: the rendered hook must still be
    # valid Python, treat the value as a string and refuse it.
    _, path = render_hook(tmp_path, "pre_gen_project", project_slug=HOSTILE)

    result = subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, cwd=tmp_path
    )

    assert result.returncode == 1
    assert "ERROR: project_slug" in result.stderr
    assert not (tmp_path / "PWNED").exists()


def test_answers_are_embedded_as_json(tmp_path):
    _, path = render_hook(tmp_path, "pre_gen_project", project_slug=HOSTILE)

    assert json.dumps(HOSTILE) not in path.read_text()  # tojson escapes quotes as \u0027


def test_post_gen_deletes_strictly(tmp_path, monkeypatch):
    post_gen, _ = render_hook(tmp_path, "post_gen_project")
    project = tmp_path / "project"
    (project / "present").mkdir(parents=True)
    monkeypatch.setattr(post_gen, "REMOVE_WHEN", [({"opt": "no"}, ["present", "absent"])])

    with pytest.raises(FileNotFoundError):
        post_gen.remove_unselected(project, {"opt": "no"})
    assert not (project / "present").exists()


def test_post_gen_keeps_files_of_chosen_options(tmp_path, monkeypatch):
    post_gen, _ = render_hook(tmp_path, "post_gen_project")
    (tmp_path / "keep.txt").write_text("x")
    monkeypatch.setattr(post_gen, "REMOVE_WHEN", [({"opt": "no"}, ["keep.txt"])])

    post_gen.remove_unselected(tmp_path, {"opt": "yes"})

    assert (tmp_path / "keep.txt").exists()


def test_post_gen_prints_next_steps_deterministically(tmp_path):
    _, path = render_hook(tmp_path, "post_gen_project")

    runs = []
    for attempt in range(2):
        # The hook runs inside the generated folder, as cookiecutter runs it.
        project = cookiecutter(
            str(TEMPLATE),
            no_input=True,
            accept_hooks=False,
            output_dir=str(tmp_path / str(attempt)),
        )
        runs.append(
            subprocess.run([sys.executable, str(path)], capture_output=True, text=True, cwd=project)
        )

    assert runs[0].returncode == 0, runs[0].stderr
    assert runs[0].stdout == runs[1].stdout
    assert "cd my_service" in runs[0].stdout
    assert "make docker-check" in runs[0].stdout


def test_extension_refuses_before_anything_is_written(tmp_path):
    defaults = cookiecutter_defaults()
    answers = {key: value for key, value in defaults.items() if not key.startswith("_")}
    answers["project_slug"] = "a/b"

    with pytest.raises(FailedHookException, match=r"ERROR: project_slug 'a/b' is invalid"):
        local_extensions.validate_answers(answers)
    assert local_extensions.validate_answers({**answers, "project_slug": "a_b"}) == "ok"
