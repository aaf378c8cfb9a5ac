"""ruff keeps the code readable: lint and format checks over rnn_utils.py,
tests/, scripts/ and the code cells of every notebook (settings in ruff.toml).

To fix what these report: `ruff check --fix .` and `ruff format .`, then
`python scripts/run_notebooks.py` for any notebook that changed.
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ["rnn_utils.py", "char_trainer.py", "tests", "scripts", "notebooks"]


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["check", "format"])
def test_ruff(command):
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *command, *TARGETS],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, f"ruff {' '.join(command)} found problems:\n{result.stdout}{result.stderr}"
