"""Run the test suite in two processes (pytest-xdist, ``--dist loadscope``).

The browser test (tests/test_browser.py: JupyterLab, Chromium and a kernel
that runs every notebook again) takes longer than everything else put
together, so it is written as two classes, each running half of the
notebooks. With ``--dist loadscope`` each class and each file is one unit of
work, kept in one process and in order (so every notebook's nbval cells run
one after the other in one kernel, and a class's fixtures start once), and
``--no-loadscope-reorder`` hands the units out in collection order. This hook
puts the browser test first, so that its two halves start at once, one in
each process; each process then takes the remaining units as it frees up.

``python -m pytest -n 0`` runs everything in one process instead.
"""


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: item.get_closest_marker("browser") is None)  # stable: browser first
