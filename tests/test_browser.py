"""Every notebook, run in a real browser the way a learner runs it.

JupyterLab is started on 127.0.0.1 in a temporary copy of the course (the
repository's notebooks are never opened, so never changed), and headless
Chromium -- Debian's package, driven by Playwright -- opens each notebook,
clears its stored outputs, runs all cells from the Run menu, and checks what a
learner would see:

1. no error output, except in cells tagged ``raises-exception``, and none
   inside a widget; every code cell ran;
2. no MathJax error in the rendered markdown (error nodes, undefined macros)
   and no TeX left untypeset;
3. every figure the stored notebook has is drawn again, as a loaded image;
4. every slider responds: a key press moves it and the output of its cell
   changes (a notebook that stores a widget must have at least one slider).

When a notebook fails, a full-page screenshot of it goes to
artifacts/screenshots/ (ignored by git); with the environment variable
SCREENSHOTS=1 every notebook gets one (each costs 4 to 12 s of a busy CPU,
which the test suite's 3-minute budget cannot spare). The test is marked ``browser``:
``python -m pytest -m "not browser"`` leaves it out. Without Chromium or
Playwright it is skipped, except when the environment variable CI is set: then
it fails.

JupyterLab draws an error output and a stream on stderr with the same renderer
(both get data-mime-type="application/vnd.jupyter.stderr"), so the DOM alone
cannot tell them apart. The server is therefore started with
``expose_app_in_browser``, as JupyterLab's own browser tests do, and the test
reads output types, tags and execution counts from the notebook model the page
holds, and what is drawn (images, math, widgets) from the DOM.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"  # Debian's package: Playwright cannot download its own browser here
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # the network is closed: no update checks, no pings
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
INSTALL = "pip install -r requirements.txt (Playwright) and apt-get install chromium (Debian)"

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
VIEWPORT = {"width": 1280, "height": 900}
MAX_SCREENSHOT_HEIGHT = 60_000  # pixels; a longer notebook is cut off at the bottom

# Time limits in seconds: generous for each step, as the machine may be shared,
# and a budget for the whole module so that a hang cannot last for ever.
TOTAL_BUDGET = 600
SERVER_START = 90
OPEN_NOTEBOOK = 120
RUN_ALL = 300
SETTLE = 60
SLIDER = 60
SIGNATURE_WAIT = 15  # for a slider's cell to show an output; it has been drawn by then

# Settings of the test's own JupyterLab (a settings folder of its own): every
# cell attached to the DOM (no windowing), no blank space after the last cell
# (a screenshot ends where the notebook ends), no news and no update checks.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {
        "windowingMode": "none",
        "scrollPastEnd": False,
    },
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
        "doNotDisturbMode": True,
    },
}

LOOPBACK = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy


def unavailable(message):
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the browser test, but {message} ({INSTALL})")
    pytest.skip(f"{message}; install with {INSTALL}")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Budget:
    """Milliseconds for a step: its own limit, or what is left of the total."""

    def __init__(self, seconds):
        self.deadline = time.monotonic() + seconds

    def ms(self, step_seconds):
        left = self.deadline - time.monotonic()
        if left <= 0:
            pytest.fail(f"the browser tests used up their {TOTAL_BUDGET} s")
        return int(1000 * min(step_seconds, left))


@pytest.fixture(scope="module")
def budget():
    return Budget(TOTAL_BUDGET)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        unavailable(f"{CHROMIUM} is missing")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the Python package playwright is missing")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A copy of what the notebooks need: notebooks/, rnn_utils.py, char_trainer.py and data/."""
    root = tmp_path_factory.mktemp("course")
    checkpoints = shutil.ignore_patterns(".ipynb_checkpoints")
    shutil.copytree(ROOT / "notebooks", root / "notebooks", ignore=checkpoints)
    for module in ("rnn_utils.py", "char_trainer.py"):
        shutil.copy2(ROOT / module, root / module)
    shutil.copytree(ROOT / "data", root / "data")
    return root


@pytest.fixture(scope="module")
def lab(browser, course, tmp_path_factory, budget):
    """JupyterLab on 127.0.0.1, serving the copy; stopped, with its kernels, at the end."""
    home = tmp_path_factory.mktemp("jupyter")
    for name, values in LAB_SETTINGS.items():
        path = home / "settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values), encoding="utf-8")
    port = free_port()
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(home / "config"),  # no user configuration
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        IPYTHONDIR=str(home / "ipython"),
    )
    command = [
        sys.executable, "-m", "jupyter", "lab",
        "--no-browser",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.ip=127.0.0.1",
        "--IdentityProvider.token=",
        "--ServerApp.password=",
        "--ServerApp.allow_root=True",
        f"--ServerApp.root_dir={course}",
        "--ServerApp.terminals_enabled=False",
        f"--LabApp.user_settings_dir={home / 'settings'}",
        f"--LabApp.workspaces_dir={home / 'workspaces'}",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.extension_manager=readonly",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.news_url=",
    ]  # fmt: skip
    log_path = home / "jupyterlab.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            command, cwd=course, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + budget.ms(SERVER_START) / 1000
        while True:
            if server.poll() is not None:
                pytest.fail(f"JupyterLab exited with {server.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                with LOOPBACK.open(f"{url}/api/status", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not answer on {url}:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.25)
        yield url
    finally:
        server.send_signal(signal.SIGTERM)  # the server shuts its kernels down, then exits
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def stored_notebook(folder, name):
    """The notebook, and what it stores by cell index: how many figures, which widgets."""
    nb = nbformat.read(folder / "notebooks" / name, as_version=4)
    figures, widgets = {}, []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        n = sum("image/png" in output.get("data", {}) for output in cell.outputs)
        if n:
            figures[index] = n
        if any(WIDGET_VIEW in output.get("data", {}) for output in cell.outputs):
            widgets.append(index)
    return nb, figures, widgets


def escaped_dollars(nb):
    """Literal dollar signs (written \\$) per markdown cell: the only $ that may stay as text."""
    return {i: cell.source.count("\\$") for i, cell in enumerate(nb.cells) if cell.cell_type == "markdown"}


# --- JavaScript run in the page --------------------------------------------------
# `window.jupyterapp` is JupyterLab's application; its current widget is the
# notebook's panel, `panel.content.model.cells.get(i)` the model of cell i and
# `panel.content.widgets[i].node` its DOM.

PANEL = "const panel = window.jupyterapp.shell.currentWidget; const model = panel.content.model;"

# TeX that MathJax has not typeset: text of rendered markdown, outside code and
# typeset math, that still holds a $ or a \begin{...}. Before MathJax runs every
# math span is such text; after, only unbalanced or unmatched delimiters are
# (and literal dollars, written \$).
RAW_TEX = """(md) => {
  const walker = document.createTreeWalker(md, NodeFilter.SHOW_TEXT, {acceptNode: (n) =>
    n.parentElement.closest('code, pre, mjx-container') ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT});
  const raw = {dollars: 0, begins: 0, snippets: []};
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const dollars = (n.data.match(/\\$/g) || []).length, begins = (n.data.match(/\\\\begin\\{/g) || []).length;
    if (dollars || begins) raw.snippets.push(n.data.trim().slice(0, 100));
    raw.dollars += dollars;
    raw.begins += begins;
  }
  return raw;
}"""

# JupyterLab leaves a code cell with no source unrun (no execution count).
RUNNABLE = "(cell) => cell.type === 'code' && cell.sharedModel.getSource().trim() !== ''"

OPENED = """(path) => {
  const dialog = document.querySelector('.jp-Dialog');
  if (dialog) return 'dialog: ' + dialog.innerText;
  const app = window.jupyterapp;
  const panel = app && app.shell.currentWidget;
  if (!panel || !panel.context || panel.context.path !== path || !panel.context.isReady) return false;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  return kernel && kernel.status === 'idle' && kernel.connectionStatus === 'connected' ? 'ready' : false;
}"""

CLEARED = f"""() => {{ {PANEL}
  for (let i = 0; i < model.cells.length; i++) {{
    const cell = model.cells.get(i);
    if (cell.type === 'code' && (cell.executionCount !== null || cell.outputs.length > 0)) return false;
  }}
  return document.querySelectorAll('.jp-Notebook .jp-OutputArea-output').length === 0;
}}"""

# 'done' once every code cell has an execution count and the kernel is idle.
# Earlier on an error in a cell not tagged raises-exception (the kernel then
# drops the rest of the queue) or when the kernel dies. The prompts are no
# guide: after an expected error JupyterLab shows the queued cells as [ ] while
# the kernel goes on running them, and a collapsed cell shows no prompt at all.
RUN_STATE = f"""() => {{ {PANEL}
  const runnable = {RUNNABLE};
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  if (!kernel || ['dead', 'restarting', 'autorestarting'].includes(kernel.status)) {{
    return 'the kernel is ' + (kernel ? kernel.status : 'gone');
  }}
  let pending = 0;
  for (let i = 0; i < model.cells.length; i++) {{
    const cell = model.cells.get(i);
    if (!runnable(cell)) continue;
    const tags = cell.getMetadata('tags') || [];
    for (let j = 0; j < cell.outputs.length; j++) {{
      if (cell.outputs.get(j).type === 'error' && !tags.includes('raises-exception')) return 'error in cell ' + i;
    }}
    if (cell.executionCount === null) pending++;
  }}
  return pending === 0 && kernel.status === 'idle' ? 'done' : false;
}}"""

IDLE = f"""() => {{ {PANEL}
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  return kernel && kernel.status === 'idle';
}}"""

# Everything is drawn: every markdown cell rendered with its math typeset,
# every image in an output loaded (or failed), every stored widget shown.
SETTLED = f"""(expected) => {{ {PANEL}
  for (let i = 0; i < model.cells.length; i++) {{
    const cell = model.cells.get(i), node = panel.content.widgets[i].node;
    if (cell.type === 'markdown') {{
      const md = node.querySelector('.jp-RenderedMarkdown');
      if (!node.classList.contains('jp-mod-rendered') || !md) return false;
      const raw = ({RAW_TEX})(md);
      if (raw.begins > 0 || raw.dollars > expected.escaped[i]) return false;
    }}
    if (expected.widgets.includes(i) && !node.querySelector('.jp-Cell-outputArea .jupyter-widgets')) return false;
  }}
  return [...document.querySelectorAll('.jp-Notebook .jp-OutputArea img')].every(img => img.complete);
}}"""

# What the page shows, cell by cell.
COLLECT = f"""() => {{ {PANEL}
  const runnable = {RUNNABLE};
  const text = (el) => (el.innerText || el.textContent || '').trim().slice(0, 300);
  const inWidget = (el) => el.closest('.jupyter-widgets') !== null;
  const cells = [];
  for (let i = 0; i < model.cells.length; i++) {{
    const cell = model.cells.get(i), node = panel.content.widgets[i].node;
    const info = {{index: i, type: cell.type}};
    if (cell.type === 'markdown') {{
      const md = node.querySelector('.jp-RenderedMarkdown');
      const all = (selector) => md ? [...md.querySelectorAll(selector)] : [];
      info.typeset = all('mjx-container').length;
      info.raw = md ? ({RAW_TEX})(md) : {{dollars: 0, begins: 0, snippets: []}};
      info.mathErrors = all('mjx-merror').map(e => e.getAttribute('data-mjx-error') || text(e));
      // an undefined macro is drawn as its name in red (MathJax's noundefined package)
      info.undefinedMacros = all('mjx-container mtext[mathcolor="red"]').map(text);
    }} else if (runnable(cell)) {{
      info.tags = cell.getMetadata('tags') || [];
      info.count = cell.executionCount;
      info.errors = [];
      for (let j = 0; j < cell.outputs.length; j++) {{
        const out = cell.outputs.get(j).toJSON();
        if (out.output_type === 'error') info.errors.push(out.ename + ': ' + out.evalue);
      }}
      const area = node.querySelector('.jp-Cell-outputArea');
      const all = (selector) => area ? [...area.querySelectorAll(selector)] : [];
      const size = (img) => [img.naturalWidth, img.naturalHeight];
      info.figures = all('img').filter(img => !inWidget(img)).map(size);
      info.widgetFigures = all('img').filter(inWidget).map(size);
      info.widgetErrors = [
        ...all('.jupyter-widgets [data-mime-type="application/vnd.jupyter.stderr"]').map(text),
        ...all('.jupyter-widgets-error-widget').map(text),
        ...all('.jp-OutputArea-output').filter(e => text(e).startsWith('Error displaying widget')).map(text),
      ];
    }}
    cells.push(info);
  }}
  return cells;
}}"""

SLIDER_HANDLES = ".jp-Notebook .jp-Cell-outputArea .widget-slider .noUi-handle[role='slider']"

# What a slider can change: the images, text areas and widget outputs of its cell.
SIGNATURE = """(handle) => {
  const area = handle.closest('.jp-Cell-outputArea');
  const parts = [...area.querySelectorAll('img')].map(img => img.complete ? img.src : 'loading');
  parts.push(...[...area.querySelectorAll('textarea')].map(t => t.value));
  parts.push(...[...area.querySelectorAll('.widget-output')].map(o => o.innerText));
  return parts.some(p => p) ? JSON.stringify(parts) : '';
}"""

MOVED = f"""([handle, before, signature]) => {{
  if (handle.getAttribute('aria-valuenow') === before) return false;
  const now = ({SIGNATURE})(handle);
  return now !== '' && now !== signature && !now.includes('"loading"');
}}"""

NOTEBOOK_SIZES = """() => {
  const scroller = document.querySelector('.jp-NotebookPanel .jp-WindowedPanel-outer');
  return [scroller.scrollHeight, scroller.clientHeight, window.innerHeight];
}"""

NEXT_FRAMES = "() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))"

IMAGES_LOADED = (
    "() => [...document.querySelectorAll('.jp-Notebook .jp-OutputArea img')].every(i => i.complete)"
)


def wait(page, script, arg=None, *, timeout):
    """Wait until the script returns something truthy and return it; None on timeout."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        return page.wait_for_function(script, arg=arg, timeout=timeout, polling=250).json_value()
    except PlaywrightTimeout:
        return None


def menu(page, top, item):
    """Choose an item of the menu bar, as a learner does; wait for it to be enabled."""
    entry = page.locator(".lm-Menu-item:not(.lm-mod-disabled)").filter(
        has=page.locator(f".lm-Menu-itemLabel:text-is('{item}')")
    )
    for _ in range(20):
        page.locator(f".lm-MenuBar-itemLabel:text-is('{top}')").click()
        if entry.count() == 1:
            entry.click()
            return
        page.keyboard.press("Escape")  # not enabled yet: close the menu and try again
        page.wait_for_timeout(500)
    pytest.fail(f"the menu item {top} > {item} did not become available")


def open_notebook(page, path, budget):
    """Open the notebook in the page's JupyterLab, as the file browser does; wait for its kernel."""
    page.evaluate(
        "(path) => { window.jupyterapp.commands.execute('docmanager:open', {path, factory: 'Notebook'}); }",
        path,
    )
    for _ in range(3):
        state = page.wait_for_function(OPENED, arg=path, timeout=budget.ms(OPEN_NOTEBOOK), polling=250)
        state = state.json_value()
        if state == "ready":
            return
        print(f"{path}: accepting a dialog: {state!r}")  # the choice of kernel, if JupyterLab asks
        page.locator(".jp-Dialog .jp-mod-accept").click()
        page.wait_for_selector(".jp-Dialog", state="detached", timeout=budget.ms(SETTLE))
    pytest.fail(f"{path}: JupyterLab kept showing dialogs")


def move_sliders(page, budget):
    """Press an arrow key on every slider: (cell index, value before, value after, output changed)."""
    results = []
    handles = page.locator(SLIDER_HANDLES)
    for k in range(handles.count()):
        handle = handles.nth(k).element_handle()
        index = page.evaluate(
            "(h) => window.jupyterapp.shell.currentWidget.content.widgets"
            ".findIndex(w => w.node === h.closest('.jp-Cell'))",
            handle,
        )
        signature = wait(page, SIGNATURE, handle, timeout=budget.ms(SIGNATURE_WAIT)) or ""
        before = handle.get_attribute("aria-valuenow")
        at_max = float(before) >= float(handle.get_attribute("aria-valuemax"))
        handle.focus()
        page.keyboard.press("ArrowLeft" if at_max else "ArrowRight")
        changed = wait(page, MOVED, [handle, before, signature], timeout=budget.ms(SLIDER)) is not None
        results.append((index, before, handle.get_attribute("aria-valuenow"), changed))
        wait(page, IDLE, timeout=budget.ms(SETTLE))
    return results


def full_page_screenshot(page, path):
    """The whole notebook, not just the window: the window is made as tall as the
    notebook, so that its scroller has nothing left to scroll. Code editors draw
    their lines lazily, so the notebook may grow once all in view: measure again."""
    page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
    for _ in range(6):
        page.evaluate(NEXT_FRAMES)
        content, visible, window_height = page.evaluate(NOTEBOOK_SIZES)
        if content <= visible + 2 or window_height >= MAX_SCREENSHOT_HEIGHT:
            break
        height = min(window_height - visible + content, MAX_SCREENSHOT_HEIGHT)
        page.set_viewport_size({"width": VIEWPORT["width"], "height": height})
    else:
        print(f"{path.name}: the notebook kept growing; the screenshot may miss its end")
    if not wait(page, IMAGES_LOADED, timeout=15_000):
        print(f"{path.name}: taken before every image had loaded")
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True, timeout=60_000)


def check_cells(cells, escaped, stored_figures):
    """Problems with checks 1 to 3 in what the page shows."""
    problems = []
    for cell in cells:
        i = cell["index"]
        if cell["type"] == "markdown":
            problems += [f"markdown cell {i}: MathJax error {e!r}" for e in cell["mathErrors"]]
            problems += [f"markdown cell {i}: undefined macro {m!r}" for m in cell["undefinedMacros"]]
            raw = cell["raw"]
            if raw["begins"] or raw["dollars"] > escaped[i]:
                problems.append(f"markdown cell {i}: TeX left untypeset in {raw['snippets']}")
        elif "count" in cell:
            if cell["count"] is None:
                problems.append(f"cell {i}: did not run")
            if cell["errors"] and "raises-exception" not in cell["tags"]:
                problems.append(f"cell {i}: error output {cell['errors']}")
            if cell["widgetErrors"]:
                problems.append(f"cell {i}: error in a widget {cell['widgetErrors']}")
    by_index = {cell["index"]: cell for cell in cells}
    for i, n in stored_figures.items():
        drawn = [size for size in by_index[i].get("figures", []) if size[0] > 0 and size[1] > 0]
        if len(drawn) < n:
            sizes = by_index[i].get("figures")
            problems.append(f"cell {i}: {len(drawn)} of its {n} stored figures drawn (sizes {sizes})")
    return problems


@pytest.fixture(scope="class")
def lab_page(browser, lab, budget):
    """One JupyterLab page for a class's notebooks, opened one after another (starting
    JupyterLab in the browser takes about 5 s), and a list of its console errors."""
    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        page.set_default_timeout(30_000)
        console = []
        page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
        page.goto(f"{lab}/lab?reset", timeout=budget.ms(OPEN_NOTEBOOK))
        page.wait_for_function("() => window.jupyterapp", timeout=budget.ms(OPEN_NOTEBOOK), polling=250)
        page.evaluate("async () => { await window.jupyterapp.restored; }")
        yield page, console
    finally:
        context.close()


def run_in_jupyterlab(name, lab_page, course, budget):
    nb, stored_figures, stored_widgets = stored_notebook(course, name)
    escaped = escaped_dollars(nb)
    page, console = lab_page
    console.clear()  # this notebook's errors only
    page.set_viewport_size(VIEWPORT)  # a screenshot makes it tall
    started = time.monotonic()
    timings, problems = {}, []
    failed = True  # until the checks have run to the end
    try:
        open_notebook(page, f"notebooks/{name}", budget)
        timings["open"] = time.monotonic() - started

        menu(page, "Edit", "Clear Outputs of All Cells")  # what is checked below is drawn afresh
        page.wait_for_function(CLEARED, timeout=budget.ms(SETTLE), polling=250)
        t = time.monotonic()
        menu(page, "Run", "Run All Cells")
        state = wait(page, RUN_STATE, timeout=budget.ms(RUN_ALL))
        timings["run all"] = time.monotonic() - t
        if state != "done":
            problems.append(f"Run All Cells did not finish: {state or f'still running after {RUN_ALL} s'}")
        expected = {"escaped": escaped, "widgets": stored_widgets}
        if not wait(page, SETTLED, expected, timeout=budget.ms(SETTLE)):
            problems.append(f"math, images or widgets were still being drawn after {SETTLE} s")
        cells = page.evaluate(COLLECT)
        problems += check_cells(cells, escaped, stored_figures)

        t = time.monotonic()
        sliders = move_sliders(page, budget)
        timings["sliders"] = time.monotonic() - t
        problems += [
            f"cell {i}: the slider went from {before} to {after} but the output did not change"
            for i, before, after, changed in sliders
            if not changed
        ]
        if stored_widgets and not sliders:
            problems.append(f"cells {stored_widgets} store widgets, but there is no slider to move")

        code = [cell for cell in cells if "count" in cell]
        print(
            f"{name}: {len(code)} code cells run ({sum(bool(c['errors']) for c in code)} raised as tagged), "
            f"{sum(c.get('typeset', 0) for c in cells)} math spans typeset, "
            f"{sum(len(c['figures']) for c in code)} figures drawn ({sum(stored_figures.values())} stored) "
            f"and {sum(len(c['widgetFigures']) for c in code)} in widgets, "
            f"sliders (cell, before, after, output changed): {sliders}; "
            + ", ".join(f"{step} {seconds:.1f} s" for step, seconds in timings.items())
        )
        failed = bool(problems)
    finally:  # a screenshot if it failed (or if asked); then the kernel and the notebook go
        steps = []
        if failed or os.environ.get("SCREENSHOTS") == "1":
            steps.append(("screenshot", lambda: full_page_screenshot(page, SCREENSHOTS / f"{name[:-6]}.png")))
        steps += [
            (
                "shutdown",
                lambda: page.evaluate(
                    "() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()"
                ),
            ),
            # closed without asking to save: the copy's outputs changed
            ("close", lambda: page.evaluate("() => window.jupyterapp.shell.currentWidget.dispose()")),
        ]
        for label, step in steps:
            t = time.monotonic()
            try:
                step()
            except Exception as error:  # report it, but keep the test's own failure, if any
                print(f"{name}: clean-up step failed: {error!r}")
            timings[label] = time.monotonic() - t
        print(
            f"{name}: {time.monotonic() - started:.1f} s in all; "
            + ", ".join(f"{step} {seconds:.1f} s" for step, seconds in timings.items())
        )
        if console:
            print("browser console errors:\n  " + "\n  ".join(console[:20]))
    assert not problems, f"{name} in JupyterLab:\n  " + "\n  ".join(problems)


# The notebooks in two classes, alternately: pytest-xdist (--dist loadscope, see
# conftest.py) keeps each class in one process, so the two halves run side by
# side, each with its own JupyterLab and Chromium.


class TestFirstHalf:
    @pytest.mark.parametrize("name", [p.name for p in NOTEBOOKS[0::2]])
    def test_notebook_runs_in_jupyterlab(self, name, lab_page, course, budget):
        run_in_jupyterlab(name, lab_page, course, budget)


class TestSecondHalf:
    @pytest.mark.parametrize("name", [p.name for p in NOTEBOOKS[1::2]])
    def test_notebook_runs_in_jupyterlab(self, name, lab_page, course, budget):
        run_in_jupyterlab(name, lab_page, course, budget)


def test_some_notebook_stores_a_slider_to_move():
    """The slider check must check something: some notebook stores a widget."""
    assert any(stored_notebook(ROOT, p.name)[2] for p in NOTEBOOKS)
