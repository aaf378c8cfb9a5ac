"""Re-execute the course notebooks and store their outputs deterministically.

    python scripts/run_notebooks.py                 # every notebook in notebooks/
    python scripts/run_notebooks.py notebooks/02_forward_pass.ipynb
    python scripts/run_notebooks.py --sync-only     # rewrite badges/set-up cells only
    python scripts/run_notebooks.py --check         # exit 1 if any are out of date

Before running, three things are rewritten from ``REPOSITORY`` and ``BRANCH``
below, so that the course's address is written in one place: the README's Binder badge, each notebook's cell tagged
``course-badges`` (Colab and Binder badges), and its cell tagged
``course-setup`` (the first code cell, which finds ``rnn_utils`` locally and
clones the repository on Colab).

Each notebook then runs top to bottom in a fresh kernel of the current Python
environment, started in the notebook's folder as nbval starts it. What varies
from run to run and is not part of the lesson is removed: per-cell timing
metadata, widget state and widget ids, the Python patch version in the notebook metadata, and
the frames of expected tracebacks (they hold local paths; the final
"ValueError: ..." line is kept).
Running this twice without changing anything leaves no git diff.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

# The public repository that learners open on Binder and clone on Colab.
# A fork changes these two lines, then runs `python scripts/run_notebooks.py --sync-only`.
REPOSITORY = "rnn-course/rnn-course"
BRANCH = "main"

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
BADGES_TAG = "course-badges"
SETUP_TAG = "course-setup"

KERNELSPEC = {
    "display_name": "Python 3 (ipykernel)",
    "language": "python",
    "name": "python3",
}
LANGUAGE_INFO = {
    "codemirror_mode": {"name": "ipython", "version": 3},
    "file_extension": ".py",
    "mimetype": "text/x-python",
    "name": "python",
    "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3",
}

BADGES_TEMPLATE = (
    "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
    "(https://colab.research.google.com/github/{repo}/blob/{branch}/notebooks/{name})\n"
    "[![Launch Binder](https://mybinder.org/badge_logo.svg)]"
    "(https://mybinder.org/v2/gh/{repo}/{branch}?urlpath=lab/tree/notebooks/{name})"
)

SETUP_TEMPLATE = """\
# Set-up: make the course's rnn_utils.py and data/ importable. Locally and on
# Binder they sit one folder up; on Colab the repository is cloned first (no
# packages are installed: Colab already has numpy and matplotlib).
import sys
from pathlib import Path

COURSE_REPO = "https://github.com/{repo}.git"
if "google.colab" in sys.modules and not Path("/content/rnn-course").exists():
    import subprocess

    subprocess.run(
        ["git", "clone", "--quiet", "--depth=1", "--branch={branch}", COURSE_REPO, "/content/rnn-course"],
        check=True,
    )
for course_root in (Path.cwd().parent, Path.cwd(), Path("/content/rnn-course")):
    if (course_root / "rnn_utils.py").exists():
        if str(course_root) not in sys.path:
            sys.path.insert(0, str(course_root))
        break"""


def expected_badges(name):
    return BADGES_TEMPLATE.format(repo=REPOSITORY, branch=BRANCH, name=name)


def expected_setup():
    return SETUP_TEMPLATE.format(repo=REPOSITORY, branch=BRANCH)


README_BINDER_RE = re.compile(r"https://mybinder\.org/v2/gh/[^/\s]+/[^/\s]+/[^?\s]+\?")


def expected_readme_binder():
    return f"https://mybinder.org/v2/gh/{REPOSITORY}/{BRANCH}?"


def sync_readme():
    """Point the README's Binder badge at the configured repository.
    Returns True when the README changed."""
    path = ROOT / "README.md"
    text = path.read_text(encoding="utf-8")
    new = README_BINDER_RE.sub(expected_readme_binder(), text)
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


def tagged_cells(nb, tag):
    return [c for c in nb.cells if tag in c.get("metadata", {}).get("tags", [])]


def sync(nb, name):
    """Rewrite the badges and set-up cells from the configuration.

    Returns the list of problems that prevent it (a missing or repeated tag)."""
    problems = []
    for tag, text in ((BADGES_TAG, expected_badges(name)), (SETUP_TAG, expected_setup())):
        cells = tagged_cells(nb, tag)
        if len(cells) != 1:
            problems.append(f"{name}: needs exactly one cell tagged {tag!r}, has {len(cells)}")
            continue
        cells[0].source = text
    return problems


def normalise(nb):
    """Drop what varies between runs but says nothing about the lesson."""
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = dict(LANGUAGE_INFO)
    nb.metadata.pop("widgets", None)  # live widget state: meaningless once stored
    for index, cell in enumerate(nb.cells):
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            for number, out in enumerate(cell.get("outputs", [])):
                out.get("metadata", {}).pop("execution", None)
                view = out.get("data", {}).get(WIDGET_VIEW)
                if view is not None:
                    # A widget's model id is random on every run; its text
                    # fallback is what a stored notebook shows anyway.
                    view["model_id"] = f"stored-widget-{index}-{number}"
                if out.output_type == "error":
                    # Keep the last line ("ValueError: ..."), the part a learner
                    # reads; the frames above it hold this machine's paths and
                    # rnn_utils line numbers, which change with every edit.
                    out.traceback = out.traceback[-1:]


def execute(nb, path, timeout):
    from nbclient import NotebookClient

    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        record_timing=False,
        coalesce_streams=True,  # one print is one stored output, however the kernel chunks it
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--sync-only", action="store_true", help="rewrite badges and set-up cells, run nothing")
    mode.add_argument(
        "--check",
        action="store_true",
        help="only report notebooks whose badges or set-up cell are out of date",
    )
    parser.add_argument("--timeout", type=float, default=600, help="seconds allowed per cell")
    args = parser.parse_args(argv)

    paths = args.notebooks or sorted(NOTEBOOK_DIR.glob("*.ipynb"))
    failures = []
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    if args.check:
        if set(README_BINDER_RE.findall(readme)) != {expected_readme_binder()}:
            failures.append("README.md: Binder badge out of date")
    else:
        sync_readme()
    for path in paths:
        path = path.resolve()
        nb = nbformat.read(path, as_version=4)
        before = nbformat.writes(nb)
        problems = sync(nb, path.name)
        if problems:
            failures += problems
            continue
        if args.check:
            if nbformat.writes(nb) != before:
                failures.append(f"{path.name}: badges or set-up cell out of date")
            continue
        if not args.sync_only:
            print(f"running {path.relative_to(ROOT)} ...", flush=True)
            try:
                execute(nb, path, args.timeout)
            except Exception as exc:  # report every notebook, then fail
                failures.append(f"{path.name}: {type(exc).__name__}: {exc}")
                continue
        normalise(nb)
        nbformat.validate(nb)
        nbformat.write(nb, path)
    for f in failures:
        print("FAILED", f, file=sys.stderr)
    if args.check and failures:
        print("Run `python scripts/run_notebooks.py` to bring them up to date.", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
