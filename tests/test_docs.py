"""docs/dockerfile.md ties every "what breaks" claim to a check a user can run.

Each block's "What breaks without it." paragraph names the line of
`make docker-check` that catches it, and proves the claim by a mutation id
(mutation `cmd-shell-form`: a row of tests/docker_tier/test_mutations.py whose
check and expected phrase the paragraph must quote) or by a template test named
as `tests/<file>.py::<test>[<id>]`, which pytest must collect.
"""

import re
import sys

from conftest import TEMPLATE, run
from docker_tier.test_mutations import MUTATIONS

TEST_REFERENCE = re.compile(r"`(tests/[\w/]+\.py::\w+(?:\[[^\]`]+\])?)`")
MUTATION_REFERENCE = re.compile(r"mutation\s+`([a-z0-9-]+)`")


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


def unproved_claims(paragraph: str) -> list[str]:
    """What a paragraph cites that no mutation row backs, or a missing proof."""
    rows = {mutation.id: mutation for mutation in MUTATIONS}
    problems = []
    for name in MUTATION_REFERENCE.findall(paragraph):
        row = rows.get(name)
        if row is None:
            problems.append(f"no mutation {name}")
            continue
        flat = " ".join(paragraph.split())
        if " ".join(row.expected.split()) not in flat:
            problems.append(f"{name}: the paragraph does not quote {row.expected!r}")
        if row.check != "minimal" and f"FAIL  {row.check}" not in paragraph:
            problems.append(f"{name}: the paragraph does not name `FAIL  {row.check}`")
    if not MUTATION_REFERENCE.search(paragraph) and not TEST_REFERENCE.search(paragraph):
        problems.append(f"no mutation id and no test: {paragraph[:60]!r}")
    return problems


def test_every_what_breaks_claim_names_the_check_that_catches_it(bake):
    paragraphs = what_breaks_paragraphs(walkthrough(bake))

    assert len(paragraphs) >= 10
    assert [p[:60] for p in paragraphs if "make docker-check" not in p] == []
    assert [problem for p in paragraphs for problem in unproved_claims(p)] == []


def test_an_unproved_claim_is_caught():
    assert unproved_claims("prints `FAIL  config` (mutation `no-such-mutation`)") == [
        "no mutation no-such-mutation"
    ]
    assert unproved_claims("`make docker-check` (mutation `cmd-shell-form`)") == [
        "cmd-shell-form: the paragraph does not quote 'CMD is shell form'",
        "cmd-shell-form: the paragraph does not name `FAIL  config`",
    ]


def test_every_named_test_exists(bake):
    references = TEST_REFERENCE.findall(walkthrough(bake))

    assert len(references) >= 8
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
