"""Every math span in the notebooks' markdown (and the README) must typeset
under MathJax 3, the engine JupyterLab and GitHub use, with undefined macros
counted as errors.

The spans are typeset by MathJax itself (the npm package mathjax-full, run by
Node.js through tests/typeset_math.js). `.ci/run` installs it into the
repository's ignored node_modules/; elsewhere, without Node.js or the package,
the test is skipped with a note saying how to install it (in CI it fails).
"""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
MATHJAX = ROOT / "node_modules" / "mathjax-full"
INSTALL = "npm install --no-save --no-package-lock mathjax-full@3.2.2"

FENCED_CODE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
INLINE_CODE = re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)", re.S)
DISPLAY = re.compile(r"\$\$(.+?)\$\$", re.S)
ENVIRONMENT = re.compile(r"\\begin\{([a-zA-Z*]+)\}.*?\\end\{\1\}", re.S)
INLINE = re.compile(r"(?<![\\$])\$(?!\$)(.+?)(?<![\\$])\$", re.S)


def math_spans(markdown):
    """Yield (tex, display) for each math span of a markdown text."""
    text = FENCED_CODE.sub(" ", markdown)
    text = INLINE_CODE.sub(lambda m: " " * len(m.group(0)), text)
    for m in DISPLAY.finditer(text):
        yield m.group(1), True
    text = DISPLAY.sub(" ", text)
    for m in ENVIRONMENT.finditer(text):  # \begin{...} without dollars, as JupyterLab allows
        if "$" not in m.group(0):
            yield m.group(0), True
    text = ENVIRONMENT.sub(lambda m: m.group(0) if "$" in m.group(0) else " ", text)
    for m in INLINE.finditer(text):
        yield m.group(1), False


def test_math_spans_are_found_where_markdown_puts_them():
    text = "Cost $J$ and\n$$a^{\\langle t \\rangle}$$\n`$not math$` costs \\$5 and \\$6.\n```\n$x$\n```\n"
    assert list(math_spans(text)) == [("a^{\\langle t \\rangle}", True), ("J", False)]


def collect():
    spans = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for index, cell in enumerate(nb.cells):
            if cell.cell_type == "markdown":
                spans += [
                    (f"{path.name}, cell {index}", tex, display) for tex, display in math_spans(cell.source)
                ]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    spans += [("README.md", tex, display) for tex, display in math_spans(readme)]
    return spans


def test_every_math_span_typesets_under_mathjax():
    node = shutil.which("node")
    if node is None or not MATHJAX.is_dir():
        message = f"needs Node.js and {INSTALL} (run in the repository root)"
        if os.environ.get("CI"):
            pytest.fail("CI must check the math: " + message)
        pytest.skip(message)
    spans = collect()
    assert len(spans) > 100, "too few math spans found: is the extraction broken?"
    result = subprocess.run(
        [node, str(ROOT / "tests" / "typeset_math.js")],
        input=json.dumps([{"tex": tex, "display": display} for _, tex, display in spans]),
        capture_output=True,
        text=True,
        env=dict(os.environ, NODE_PATH=str(ROOT / "node_modules")),
        check=True,
    )
    errors = [
        f"{where}: {error}\n    {tex!r}"
        for (where, tex, _), error in zip(spans, json.loads(result.stdout), strict=True)
        if error is not None
    ]
    assert not errors, f"{len(errors)} of {len(spans)} math spans do not typeset:\n" + "\n".join(errors)
