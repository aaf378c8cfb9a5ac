"""Checks of the committed notebooks that nbval itself does not make.

Strict nbval compares a cell's fresh output with its stored output, but it
silently passes a cell that has no stored run: a notebook committed without
outputs would test nothing. These tests refuse that, and check the parts of
each notebook the course relies on (badges, set-up cell, summary, exercises).
"""

import importlib.util
import json
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def load_runner():
    spec = importlib.util.spec_from_file_location("run_notebooks", ROOT / "scripts" / "run_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


runner = load_runner()


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]


def tags(cell):
    return cell.get("metadata", {}).get("tags", [])


@pytest.fixture(params=NOTEBOOKS, ids=lambda p: p.name)
def notebook(request):
    path = request.param
    return path, nbformat.read(path, as_version=4)


def test_notebooks_are_numbered_from_one_without_gaps():
    numbers = [int(p.name[:2]) for p in NOTEBOOKS]
    assert numbers == list(range(1, len(NOTEBOOKS) + 1)), [p.name for p in NOTEBOOKS]
    assert all(re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", p.name) for p in NOTEBOOKS)


def test_notebook_is_valid_and_uses_python3_kernel(notebook):
    path, nb = notebook
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"


def test_every_code_cell_has_a_stored_run_in_order(notebook):
    path, nb = notebook
    counts = [c.execution_count for c in code_cells(nb)]
    missing = sum(n is None for n in counts)
    assert missing == 0, (
        f"{path.name}: {missing} of {len(counts)} code cells have no stored run; "
        "run `python scripts/run_notebooks.py` before committing"
    )
    assert counts == list(range(1, len(counts) + 1)), (
        f"{path.name}: execution counts are {counts}, not 1..{len(counts)} in order; "
        "re-run it with `python scripts/run_notebooks.py`"
    )


def test_errors_appear_only_where_tagged(notebook):
    path, nb = notebook
    for i, cell in enumerate(code_cells(nb)):
        has_error = any(o.output_type == "error" for o in cell.outputs)
        expected = "raises-exception" in tags(cell)
        assert has_error == expected, f"{path.name}, code cell {i + 1}: " + (
            "unexpected error output" if has_error else "tagged raises-exception but raised nothing"
        )


def test_badges_and_setup_cell_match_the_configured_repository(notebook):
    path, nb = notebook
    badges = runner.tagged_cells(nb, runner.BADGES_TAG)
    setup = runner.tagged_cells(nb, runner.SETUP_TAG)
    assert len(badges) == 1 and len(setup) == 1
    assert nb.cells[0] is badges[0], "the badges come first"
    assert code_cells(nb)[0] is setup[0], "the set-up cell is the first code cell"
    assert badges[0].source == runner.expected_badges(path.name)
    assert setup[0].source == runner.expected_setup()
    assert setup[0].outputs == [], "the set-up cell must print nothing outside Colab"


def test_notebook_has_title_goals_summary_exercises_and_next_step(notebook):
    path, nb = notebook
    markdown = [c.source for c in nb.cells if c.cell_type == "markdown"]
    number = int(path.name[:2])
    assert markdown[1].startswith(f"# {number}. "), f"{path.name}: title should read '# {number}. ...'"
    text = "\n".join(markdown)
    for heading in ("## Summary", "## Exercises"):
        assert re.search(rf"^{heading}\b", text, re.M), f"{path.name}: no '{heading}' section"
    assert re.search(r"\bnotebook\s+" + str(number + 1) + r"\b", text, re.I), (
        f"{path.name}: no pointer to notebook {number + 1}"
    )


def test_title_cell_says_what_the_learner_will_be_able_to_do(notebook):
    path, nb = notebook
    title = nb.cells[1].source
    assert re.search(r"^\s*[-*] ", title, re.M), f"{path.name}: the title cell has no list of goals"
    if not path.name.startswith("01"):
        assert re.search(r"builds on|after \[?notebook", title, re.I), (
            f"{path.name}: does not say what it builds on"
        )


def test_links_to_the_previous_and_next_notebooks_resolve(notebook):
    path, nb = notebook
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    targets = set(re.findall(r"\]\(([^)#\s]+\.ipynb)", text))
    for target in targets:
        if "://" not in target:
            assert (path.parent / target).exists(), f"{path.name}: link to missing {target}"
    index = NOTEBOOKS.index(path)
    if index > 0:
        assert NOTEBOOKS[index - 1].name in targets, (
            f"{path.name}: no link back to {NOTEBOOKS[index - 1].name}"
        )
    if index < len(NOTEBOOKS) - 1:
        assert NOTEBOOKS[index + 1].name in targets, f"{path.name}: no link on to {NOTEBOOKS[index + 1].name}"


# Outside addresses a notebook may link to besides its badges: works it cites.
CITED_REFERENCES = ()
BADGE_HOSTS = ("https://colab.research.google.com/", "https://mybinder.org/")


def test_links_and_images_stay_inside_the_repository(notebook):
    path, nb = notebook
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        badges = runner.BADGES_TAG in tags(cell)
        addresses = re.findall(r"\]\(\s*([a-z][a-z0-9+.-]*:[^)\s]*)", cell.source, re.I)
        addresses += re.findall(
            r"""<(?:img|a)\b[^>]*(?:src|href)\s*=\s*["']([a-z][a-z0-9+.-]*:[^"']*)""", cell.source, re.I
        )
        for address in addresses:
            allowed = address.startswith(CITED_REFERENCES) if CITED_REFERENCES else False
            allowed |= badges and address.startswith(BADGE_HOSTS)
            assert allowed, f"{path.name}, cell {index}: points outside the repository: {address}"
        assert "attachment:" not in cell.source, (
            f"{path.name}, cell {index}: images belong in code, not attachments"
        )


MAX_OUTPUT_BYTES = 250_000  # a figure at the default size and dpi is about 30-140 kB


def test_no_stored_output_is_oversized(notebook):
    path, nb = notebook
    for index, cell in enumerate(code_cells(nb)):
        for out in cell.outputs:
            size = len(json.dumps(out))
            assert size <= MAX_OUTPUT_BYTES, (
                f"{path.name}, code cell {index + 1}: an output of {size:,} bytes"
            )


def test_solutions_are_collapsed(notebook):
    path, nb = notebook
    for cell in code_cells(nb):
        if cell.source.lstrip().startswith("# @title Solution"):
            assert cell.metadata.get("jupyter", {}).get("source_hidden") is True, (
                f"{path.name}: a solution cell is not collapsed"
            )


def test_runner_check_mode_passes():
    assert runner.main(["--check"]) == 0


def run_setup_cell(cwd, monkeypatch, on_colab):
    """Execute the set-up cell's code as a kernel would, in ``cwd``."""
    import subprocess
    import sys
    import types

    calls = []
    monkeypatch.chdir(cwd)
    # A fresh kernel does not have the repository root on its path.
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p and Path(p).resolve() != ROOT])
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls.append(cmd))
    if on_colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(runner.expected_setup(), {})
    return calls, sys.path


def test_setup_cell_finds_rnn_utils_locally_and_clones_nothing(monkeypatch, capsys):
    calls, path = run_setup_cell(ROOT / "notebooks", monkeypatch, on_colab=False)
    assert calls == []
    assert path[0] == str(ROOT)
    assert capsys.readouterr() == ("", "")


def test_setup_cell_clones_the_configured_repository_on_colab(monkeypatch, tmp_path):
    if Path("/content/rnn-course").exists():
        pytest.skip("a real Colab checkout is present")
    calls, _ = run_setup_cell(tmp_path, monkeypatch, on_colab=True)
    assert len(calls) == 1
    cmd = calls[0]
    assert cmd[:2] == ["git", "clone"]
    assert f"https://github.com/{runner.REPOSITORY}.git" in cmd
    assert f"--branch={runner.BRANCH}" in cmd
    assert cmd[-1] == "/content/rnn-course"
    assert not any(c.startswith("pip") for c in cmd)  # installs nothing over Colab's packages
