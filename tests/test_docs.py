"""The documentation's own checks: the quick start runs and prints what it
says, and the examples state no number that their code does not print.

The gallery is executed by the documentation build (``make docs``); these
tests are the cheap part that runs with the test suite.
"""

import ast
import doctest
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("**/plot_*.py"))


def test_quickstart_runs_and_prints_its_expected_output():
    result = doctest.testfile(
        str(ROOT / "docs" / "quickstart.rst"), module_relative=False,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.attempted > 10
    assert result.failed == 0


def _blocks(path):
    # sphinx-gallery comes with the docs extra; it splits a script into the
    # text and code blocks that the gallery renders
    parser = pytest.importorskip("sphinx_gallery.py_source_parser")
    split_code_and_text_blocks = parser.split_code_and_text_blocks

    # (file configuration, [(type, content, first line), ...])
    return [tuple(block) for block in split_code_and_text_blocks(str(path))[1]]


# A result stated in prose: a decimal number, a percentage or a factor.
# Settings (nside = 32, 48 patches, 3 folds) are integers and stay allowed;
# what a run measures must be printed by its code.
_CLAIM = re.compile(r"\d+\.\d+|\d+\s*(?:%|percent\b)|\d+\s*times\b")
# Literals and math are code, not claims.
_NOT_PROSE = re.compile(r"``.*?``|:math:`.*?`|:\w+:`.*?`|\.\. math::.*?(?:\n\n|\Z)", re.S)


def _prose(block_text):
    return _NOT_PROSE.sub(" ", block_text)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_prose_states_no_number_its_code_does_not_print(path):
    claims = []
    for label, content, line in _blocks(path):
        if label == "text":
            claims += [f"line {line}: {m.group()!r}" for m in _CLAIM.finditer(_prose(content))]
    assert not claims, (
        f"{path.name} states numbers in its prose; print them from the run "
        f"instead (an f-string), or write settings as ``literals``: {claims}")


def _displays_a_repr(statement, source_lines):
    """Would sphinx-gallery print this last statement of a code block?"""
    if not isinstance(statement, ast.Expr) or not isinstance(statement.value, ast.Call):
        return False  # assignments print nothing; bare names are shown on purpose
    func = statement.value.func
    if isinstance(func, ast.Name) and func.id == "print":
        return False
    if isinstance(func, ast.Attribute) and func.attr == "show":
        return False  # plt.show() returns None
    last_line = source_lines[statement.end_lineno - 1].split("#")[0].rstrip()
    return not last_line.endswith(";")


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_code_blocks_end_without_stray_reprs(path):
    # The gallery shows no return values (``capture_repr=()`` in conf.py),
    # but the notebooks that it offers for download, and readers running the
    # cells one by one, do: a trailing ';' silences them there.
    stray = []
    for label, content, line in _blocks(path):
        if label != "code" or not content.strip():
            continue
        source_lines = content.splitlines()
        body = ast.parse(content).body
        if body and _displays_a_repr(body[-1], source_lines):
            stray.append(f"line {line + body[-1].lineno - 1}: "
                         f"{source_lines[body[-1].lineno - 1].strip()}")
    assert not stray, (
        f"{path.name}: these calls end a code block, so the gallery prints "
        f"their return value (a Legend, [Text(...)]); end them with ';' or "
        f"assign the result: {stray}")


def test_the_claim_checks_catch_what_they_are_for():
    assert _CLAIM.search(_prose("the FCN reaches 0.87 against 0.83"))
    assert _CLAIM.search(_prose("about 13 % at nside 8"))
    assert _CLAIM.search(_prose("20 to 75 times more equivariant"))
    assert not _CLAIM.search(_prose("``nside = 32`` and 48 patches, :math:`\\ell = 2.5`"))
    lines = ["ax.legend()"]
    assert _displays_a_repr(ast.parse(lines[0]).body[0], lines)
    lines = ["ax.legend();"]
    assert not _displays_a_repr(ast.parse(lines[0]).body[0], lines)
    lines = ["print(1)"]
    assert not _displays_a_repr(ast.parse(lines[0]).body[0], lines)
    lines = ["plt.show()"]
    assert not _displays_a_repr(ast.parse(lines[0]).body[0], lines)


def test_user_guide_examples_print_what_the_page_says():
    result = doctest.testfile(
        str(ROOT / "docs" / "user_guide.rst"), module_relative=False,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.attempted >= 2
    assert result.failed == 0
