"""docs/dockerfile.md ties every "what breaks" claim to a template test that exists.

The walkthrough names tests as `tests/<file>.py::<test>[<id>]`. Each named test
must be collected by pytest (removing or renaming one fails this test), and
every block's "What breaks without it." paragraph must name at least one.
"""

import re
import sys

from conftest import TEMPLATE, run

TEST_REFERENCE = re.compile(r"`(tests/[\w/]+\.py::\w+(?:\[[^\]`]+\])?)`")


def walkthrough(bake) -> str:
    result = bake({"include_docs": True})
    assert result.exit_code == 0, result.exception
    return (result.project_path / "docs/dockerfile.md").read_text()


def what_breaks_paragraphs(text: str) -> list[str]:
    return [
        paragraph
        for paragraph in text.split("\n\n")
        if paragraph.startswith("**What breaks without it.**")
    ]


def missing_tests(references: list[str]) -> list[str]:
    """The references pytest cannot collect (it exits 4 naming them)."""
    result = run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            *sorted(set(references)),
        ],
        cwd=TEMPLATE,
    )
    if result.returncode == 0:
        return []
    return [ref for ref in references if ref in result.stdout + result.stderr] or [
        result.stdout[-2000:] + result.stderr[-2000:]
    ]


def test_every_what_breaks_claim_names_a_test(bake):
    paragraphs = what_breaks_paragraphs(walkthrough(bake))

    assert len(paragraphs) >= 10
    assert [p[:60] for p in paragraphs if not TEST_REFERENCE.search(p)] == []


def test_every_named_test_exists(bake):
    references = TEST_REFERENCE.findall(walkthrough(bake))

    assert len(references) >= 15
    assert missing_tests(references) == []


def test_a_reference_to_a_missing_test_is_caught():
    # The same check must fail for a renamed test and for an unknown mutation id.
    assert missing_tests(["tests/docker_tier/test_image.py::test_no_such_check"]) != []
    assert (
        missing_tests(
            ["tests/docker_tier/test_mutations.py::test_mutation_is_caught[no-such-mutation]"]
        )
        != []
    )


def test_walkthrough_is_optional(bake):
    result = bake({"include_docs": False})

    assert result.exit_code == 0, result.exception
    assert not (result.project_path / "docs/dockerfile.md").exists()
    # The operations guide is not learning material: every project keeps it.
    assert (result.project_path / "docs/operations.md").is_file()
