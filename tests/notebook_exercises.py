"""Load a notebook's exercise checks so that tests can feed them wrong answers.

An exercise's check is only worth something if it fails on a wrong answer
with a hint that helps. The notebooks themselves run the checks on the
learner's stub and on the solution; the ``tests/test_exercises_*.py`` files
run them on typical mistakes. To make that possible, every cell that a check
needs (the check itself, and any small helper or fixture it uses) is tagged
``exercise-check`` in the notebook and must run on its own, given only the
names that the set-up cells provide (``np``, ``rnn_utils`` and the notebook's
``SEED``).

    checks = load_checks("02_forward_pass.ipynb")
    out = run_check(checks["check_rnn_cell_forward"], wrong_cell_forward)
    assert "FAIL" in out and "Hint" in out
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import nbformat
import numpy as np

import rnn_utils

ROOT = Path(__file__).resolve().parent.parent
CHECK_TAG = "exercise-check"


def load_checks(notebook_name: str, extra: dict | None = None) -> dict:
    """Execute the notebook's cells tagged ``exercise-check`` in order; return their namespace."""
    nb = nbformat.read(ROOT / "notebooks" / notebook_name, as_version=4)
    namespace = {"np": np, "rnn_utils": rnn_utils, "SEED": 1, "__name__": "exercise_checks"}
    namespace.update(extra or {})
    cells = [c for c in nb.cells if c.cell_type == "code" and CHECK_TAG in c.metadata.get("tags", [])]
    if not cells:
        raise AssertionError(f"{notebook_name}: no cell is tagged {CHECK_TAG!r}")
    with contextlib.redirect_stdout(io.StringIO()):
        for cell in cells:
            exec(compile(cell.source, f"{notebook_name}[{CHECK_TAG}]", "exec"), namespace)
    return namespace


def run_check(check, *answers, **kwargs) -> str:
    """Call a check function on the given answer(s) and return what it printed."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        check(*answers, **kwargs)
    return buffer.getvalue()
