"""The course's fast character-model trainer, beside the teaching code.

``rnn_utils`` holds what the notebooks teach, written for reading. This module
trains the same model (a tanh RNN with softmax outputs over characters) fast,
and holds everything that serves that: flat parameter buffers, the fused
minibatch step, the thread split, :class:`CharModel` (a trained model with its
vocabulary), saving and loading, progress reports and the command line::

    python -m char_trainer train data/shakespeare.txt --seconds 300 --save model.npz
    python -m char_trainer sample model.npz --n 500 --temperature 0.8

Its fused kernel computes the teaching functions' maths in another layout;
``tests/test_char_model.py`` checks it against ``rnn_utils.rnn_loss_and_grads``
in float64.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from rnn_utils import (
    _PARAM_LABELS,
    CharVocab,
    _as_float_array,
    _check_choice,
    _check_params,
    _check_positive_int,
    _check_shape,
)

__all__ = [
    "fast_loss_and_grads",
    "CharModel",
    "load_char_model",
    "TrainingDiverged",
    "train_char_model",
    "main",
]


# ---------------------------------------------------------------------------
# A character-level language model: fast minibatch training, sampling, files
# ---------------------------------------------------------------------------
#
# The functions above follow the notation literally: one-hot inputs, columns
# as examples, one cache per step. Training wants speed, so the trainer below
# computes the same model in a layout built for it:
#
# - time-major arrays with examples as rows: a hidden state is (m, n_a), so
#   every product is a large row-major matrix product;
# - the parameters stored transposed (WaxT (n_x, n_a), WaaT, WyaT (n_a, n_y))
#   and all of them views into one flat buffer, so that clipping and the
#   optimiser update are a handful of operations on one array;
# - index lookups (a row of WaxT) in place of one-hot products;
# - the output layer, softmax and weight gradients done once for all steps,
#   leaving only the recurrence itself in a Python loop;
# - float32 by default, buffers reused from step to step.
#
# fast_loss_and_grads exposes that kernel in the course's layout, and the
# tests check it against rnn_loss_and_grads in float64.


def _flat_shapes(n_x, n_a):
    return {"WaxT": (n_x, n_a), "WaaT": (n_a, n_a), "ba": (n_a,), "WyaT": (n_a, n_x), "by": (n_x,)}


def _flat_views(flat, n_x, n_a):
    """Split one flat buffer into named parameter views (no copies)."""
    views, offset = {}, 0
    for name, shape in _flat_shapes(n_x, n_a).items():
        size = int(np.prod(shape))
        views[name] = flat[offset : offset + size].reshape(shape)
        offset += size
    return views


def _flat_size(n_x, n_a):
    return sum(int(np.prod(s)) for s in _flat_shapes(n_x, n_a).values())


def _to_course_layout(P):
    """Fast (transposed) parameters -> the course's dict of fresh arrays."""
    return {
        "Waa": P["WaaT"].T.copy(),
        "Wax": P["WaxT"].T.copy(),
        "Wya": P["WyaT"].T.copy(),
        "ba": P["ba"][:, np.newaxis].copy(),
        "by": P["by"][:, np.newaxis].copy(),
    }


def _from_course_layout(params, P):
    """Copy the course's parameters into fast views ``P``."""
    P["WaaT"][...] = params["Waa"].T
    P["WaxT"][...] = params["Wax"].T
    P["WyaT"][...] = params["Wya"].T
    P["ba"][...] = params["ba"][:, 0]
    P["by"][...] = params["by"][:, 0]


class _Workspace:
    """Buffers for one (seq_len, batch) shape, reused by every step."""

    def __init__(self, n_x, n_a, T, m, dtype):
        self.H = np.zeros((T + 1, m, n_a), dtype)  # H[0] is the carried-in state
        self.XW = np.zeros((T, m, n_a), dtype)
        self.dH = np.zeros((T, m, n_a), dtype)
        self.logits = np.zeros((T * m, n_x), dtype)
        self.one_hot = np.zeros((T * m, n_x), dtype)
        self.dh = np.zeros((m, n_a), dtype)
        self.rows = np.arange(T * m)


def _fast_step(P, G, X, Y, h0, ws):
    """Forward and backward over one chunk, in the fast layout.

    Args:
        P, G: parameter and gradient views (see ``_flat_views``); ``G`` is
            overwritten with the gradient of the mean loss.
        X, Y: int arrays ``(T, m)`` of input and target ids.
        h0: ``(m, n_a)`` hidden state carried in.
        ws: a ``_Workspace`` of matching shape.

    Returns:
        (mean loss in nats per character, hidden state after the last step).
    """
    T, m = X.shape
    H, XW, dH, L = ws.H, ws.XW, ws.dH, ws.logits
    n_a = H.shape[2]
    H[0] = h0
    # Forward. Input lookups for all steps at once; only the recurrence loops.
    np.take(P["WaxT"], X, axis=0, out=XW)
    XW += P["ba"]
    WaaT = P["WaaT"]
    for t in range(T):
        h = H[t + 1]
        np.matmul(H[t], WaaT, out=h)
        h += XW[t]
        np.tanh(h, out=h)
    Hs = H[1:].reshape(T * m, n_a)
    np.matmul(Hs, P["WyaT"], out=L)
    L += P["by"]
    L -= L.max(axis=1, keepdims=True)
    targets = Y.reshape(-1)
    target_logits = L[ws.rows, targets]
    np.exp(L, out=L)
    sums = L.sum(axis=1)
    loss = float(np.mean(np.log(sums), dtype=np.float64) - np.mean(target_logits, dtype=np.float64))
    # Backward. dlogits = (softmax - one_hot(target)) / (T m), in place.
    L /= sums[:, np.newaxis]
    L[ws.rows, targets] -= 1
    L *= 1.0 / (T * m)
    np.matmul(Hs.T, L, out=G["WyaT"])
    L.sum(axis=0, out=G["by"])
    dHs = dH.reshape(T * m, n_a)
    np.matmul(L, P["WyaT"].T, out=dHs)
    # tanh'(z) = 1 - a^2 for all steps at once, folded into dH as we go.
    D = XW  # the input lookups are no longer needed: reuse the buffer
    np.multiply(H[1:], H[1:], out=D)
    np.subtract(1, D, out=D)
    dh = ws.dh
    dh[...] = 0
    WaaT_T = WaaT.T
    for t in range(T - 1, -1, -1):
        dz = dH[t]
        dz += dh
        dz *= D[t]
        np.matmul(dz, WaaT_T, out=dh)
    np.matmul(H[:-1].reshape(T * m, n_a).T, dHs, out=G["WaaT"])
    dHs.sum(axis=0, out=G["ba"])
    oh = ws.one_hot
    oh[...] = 0
    oh[ws.rows, X.reshape(-1)] = 1
    np.matmul(oh.T, dHs, out=G["WaxT"])
    return loss, H[T].copy()


def _check_ids(name, ids, n_x):
    ids = np.asarray(ids)
    if ids.ndim != 2 or (ids.size and not np.issubdtype(ids.dtype, np.integer)):
        raise ValueError(
            f"{name} must be a 2-D integer array (m, T_x); got shape {ids.shape}, dtype {ids.dtype}"
        )
    bad = ids[(ids < 0) | (ids >= n_x)]
    if bad.size:
        raise ValueError(f"{name} must hold ids in [0, {n_x}); got {sorted(set(bad.tolist()))[:10]}")
    return ids


def fast_loss_and_grads(params, x_ids, y_ids, a0):
    """The trainer's fast kernel, in the course's layout: softmax outputs,
    tanh hidden units, one-hot inputs given as ids.

    Equal, up to rounding, to ``rnn_loss_and_grads(one_hot(x_ids), one_hot(y_ids),
    a0, params)`` divided by the number of characters ``m * T_x``.

    Args:
        params: dict with ``Waa (n_a, n_a)``, ``Wax (n_a, n_x)``,
            ``Wya (n_x, n_a)``, ``ba (n_a, 1)``, ``by (n_x, 1)`` (outputs and
            inputs share the vocabulary, so ``n_y = n_x``).
        x_ids: input ids ``(m, T_x)``.
        y_ids: target ids ``(m, T_x)``, usually ``x_ids`` shifted by one.
        a0: initial hidden state ``(n_a, m)``.

    Returns:
        J: mean loss in nats per character.
        grads: ``dWaa, dWax, dWya, dba, dby`` of the mean loss, course layout.
        a_last: ``(n_a, m)``.
    """
    n_x, n_a, n_y, p = _check_params(params)
    if n_y != n_x:
        raise ValueError(
            f"params['Wya'] must have shape (n_x, n_a) = ({n_x}, {n_a}) for a language model; got {p['Wya'].shape}"
        )
    x_ids = _check_ids("x_ids", x_ids, n_x)
    y_ids = _check_ids("y_ids", y_ids, n_x)
    _check_shape("y_ids", y_ids, x_ids.shape, ("m", "T_x"))
    m, T = x_ids.shape
    a0 = _as_float_array("a0", a0)
    _check_shape("a0", a0, (n_a, m), ("n_a", "m"))
    dtype = np.result_type(a0, *p.values())
    flat, gflat = np.zeros(_flat_size(n_x, n_a), dtype), np.zeros(_flat_size(n_x, n_a), dtype)
    P, G = _flat_views(flat, n_x, n_a), _flat_views(gflat, n_x, n_a)
    _from_course_layout(p, P)
    J, h_last = _fast_step(P, G, x_ids.T, y_ids.T, a0.T, _Workspace(n_x, n_a, T, m, dtype))
    grads = {"d" + k: v for k, v in _to_course_layout(G).items()}
    return J, grads, h_last.T.copy()


class _SplitStep:
    """One training step with the batch split into parts computed side by side.

    The ``m`` streams are cut into ``parts`` contiguous groups; each group runs
    :func:`_fast_step` on its own workspace and gradient buffer, in a thread
    of its own (numpy releases the GIL inside matrix products and ufunc loops,
    so the parts really run on separate cores, each with single-threaded
    BLAS). The mean loss and its gradient over the whole batch are the
    averages of the parts' losses and gradients, weighted by the parts' sizes
    and summed in a fixed order: the result does not depend on which thread
    finishes first.
    """

    def __init__(self, n_x, n_a, T, m, parts, dtype, pool):
        bounds = np.linspace(0, m, parts + 1).round().astype(int)
        self.slices = [slice(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:])]
        self.weights = [(s.stop - s.start) / m for s in self.slices]
        self.grads = [np.zeros(_flat_size(n_x, n_a), dtype) for _ in self.slices]
        self.views = [_flat_views(g, n_x, n_a) for g in self.grads]
        self.workspaces = [_Workspace(n_x, n_a, T, s.stop - s.start, dtype) for s in self.slices]
        self.pool = pool

    def __call__(self, P, gflat, X, Y, h):
        """Loss over the batch; ``gflat`` gets its gradient, ``h`` (m, n_a) the new state."""

        def part(k):
            cols = self.slices[k]
            with np.errstate(over="ignore", invalid="ignore"):  # errstate is per thread
                return _fast_step(P, self.views[k], X[:, cols], Y[:, cols], h[cols], self.workspaces[k])

        if self.pool is None:
            results = [part(k) for k in range(len(self.slices))]
        else:
            results = list(self.pool.map(part, range(len(self.slices))))
        loss = 0.0
        for k, (part_loss, part_h) in enumerate(results):
            loss += self.weights[k] * part_loss
            h[self.slices[k]] = part_h
            if k == 0:
                np.multiply(self.grads[0], self.weights[0], out=gflat)
            else:
                gflat += self.weights[k] * self.grads[k]
        return loss


class CharModel:
    """A character-level RNN language model: a vocabulary and the parameters
    of a tanh RNN with softmax outputs over that vocabulary.

    ``params`` uses the course's layout (``Waa``, ``Wax``, ``Wya``, ``ba``,
    ``by``); ``n_x = n_y =`` the vocabulary size.
    """

    def __init__(self, vocab, params):
        if not isinstance(vocab, CharVocab):
            raise ValueError(f"vocab must be a CharVocab; got {type(vocab).__name__}")
        n_x, n_a, n_y, p = _check_params(params)
        if n_x != vocab.size or n_y != vocab.size:
            raise ValueError(
                f"params must match the vocabulary of {vocab.size} characters; got n_x = {n_x}, n_y = {n_y}"
            )
        self.vocab = vocab
        self.params = p

    @property
    def n_a(self):
        return self.params["Waa"].shape[0]

    def __repr__(self):
        return f"CharModel(n_a={self.n_a}, vocab_size={self.vocab.size}, dtype={self.params['Waa'].dtype})"

    def _run(self, ids):
        """Hidden states ``(len(ids), n_a)`` after reading each id, one continuous
        stream. Row-major and transposed weights: one small product per step."""
        p = self.params
        WaaT = np.ascontiguousarray(p["Waa"].T)
        XW = p["Wax"].T[ids] + p["ba"][:, 0]
        H = np.empty((len(ids), self.n_a), dtype=XW.dtype)
        h = np.zeros(self.n_a, XW.dtype)
        for t in range(len(ids)):
            h = np.tanh(XW[t] + h @ WaaT)
            H[t] = h
        return H

    def hidden_states(self, text):
        """Hidden activations after each character of ``text``, ``(n_a, len(text))``,
        starting from ``a^{<0>} = 0``."""
        return self._run(self.vocab.encode(text)).T.copy()

    def loss(self, text):
        """Mean negative log-likelihood, in nats per character, of each
        character of ``text`` given all those before it (the hidden state is
        carried through the whole text; the first character is only read)."""
        ids = self.vocab.encode(text)
        if len(ids) < 2:
            raise ValueError(f"text must have at least 2 characters to score; got {len(ids)}")
        H = self._run(ids[:-1])
        total = 0.0
        for start in range(0, len(H), 8192):  # bounded memory for long texts
            logits = H[start : start + 8192] @ self.params["Wya"].T + self.params["by"][:, 0]
            logits = logits.astype(np.float64)
            logits -= logits.max(axis=1, keepdims=True)
            log_norm = np.log(np.exp(logits).sum(axis=1))
            targets = ids[start + 1 : start + 1 + len(logits)]
            total += float(np.sum(log_norm - logits[np.arange(len(logits)), targets]))
        return total / (len(ids) - 1)

    def sample(self, n_chars, temperature=1.0, seed=0, prefix=""):
        """Generate ``n_chars`` characters after ``prefix``; returns ``prefix``
        followed by them.

        The hidden state starts at zero and reads the prefix first. With an
        empty prefix, a newline is read first if the vocabulary has one (in a
        list of names it marks "a new name starts here"); otherwise the first
        input is the all-zero vector.

        ``temperature`` divides the logits: below 1 sharpens the distribution,
        above 1 flattens it, and 0 means greedy decoding (always the most
        likely character).
        """
        if isinstance(n_chars, bool) or not isinstance(n_chars, (int, np.integer)) or n_chars < 0:
            raise ValueError(f"n_chars must be a non-negative integer; got {n_chars!r}")
        if not (
            isinstance(temperature, (int, float, np.floating))
            and np.isfinite(temperature)
            and temperature >= 0
        ):
            raise ValueError(f"temperature must be a finite number >= 0; got {temperature!r}")
        if not isinstance(prefix, str):
            raise ValueError(f"prefix must be a str; got {type(prefix).__name__}")
        rng = np.random.default_rng(seed)
        p = self.params
        WaaT = np.ascontiguousarray(p["Waa"].T)
        WaxT, ba = p["Wax"].T, p["ba"][:, 0]
        WyaT, by = np.ascontiguousarray(p["Wya"].T), p["by"][:, 0]
        warm = prefix if prefix or "\n" not in self.vocab.char_to_id else "\n"
        # With nothing to read, the first step sees a zero state and a zero input.
        h = self._run(self.vocab.encode(warm))[-1] if warm else np.tanh(ba)
        out = []
        for _ in range(n_chars):
            logits = (h @ WyaT + by).astype(np.float64)
            if temperature == 0:
                i = int(np.argmax(logits))
            else:
                z = logits / temperature
                probs = np.exp(z - z.max())
                cdf = np.cumsum(probs)
                i = min(int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right")), len(cdf) - 1)
            out.append(self.vocab.chars[i])
            h = np.tanh(WaxT[i] + ba + h @ WaaT)
        return prefix + "".join(out)

    def save(self, path):
        """Write the model to a ``.npz`` file, atomically: the file appears
        complete or not at all, even if writing is interrupted."""
        import os
        import tempfile

        path = Path(path)
        arrays = dict(self.params)
        arrays["chars"] = np.array([ord(c) for c in self.vocab.chars], dtype=np.int32)
        arrays["format"] = np.array([_MODEL_FORMAT], dtype=np.int32)
        fd, tmp = tempfile.mkstemp(dir=path.resolve().parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


_MODEL_FORMAT = 1


def load_char_model(path):
    """Read a model written by :meth:`CharModel.save` (no pickles are loaded)."""
    with np.load(path, allow_pickle=False) as f:
        missing = [k for k in (*_PARAM_LABELS, "chars", "format") if k not in f.files]
        if missing:
            raise ValueError(f"{path} is not a saved CharModel: missing {missing}")
        if int(f["format"][0]) != _MODEL_FORMAT:
            raise ValueError(
                f"{path} has model format {int(f['format'][0])}; this code reads format {_MODEL_FORMAT}"
            )
        params = {k: f[k] for k in _PARAM_LABELS}
        vocab = CharVocab("".join(chr(c) for c in f["chars"].tolist()))
    return CharModel(vocab, params)


class TrainingDiverged(ValueError):
    """The loss became non-finite. ``model`` holds the parameters of the last
    step whose loss was finite, ``history`` the losses up to there."""

    def __init__(self, message, model, history):
        super().__init__(message)
        self.model = model
        self.history = history


class _Progress:
    """Progress reports while training.

    ``"bar"`` redraws one line on stderr, with speed and time (terminals).
    ``"lines"`` prints a short line to stdout at each tenth of ``steps``, with
    the step and the losses only, so that the same run prints the same lines
    (notebooks, logs); given only ``seconds``, it prints a line at each tenth
    of that time instead, with the speed.
    """

    def __init__(self, mode, steps, seconds):
        import sys
        import time

        self.mode, self.steps, self.seconds = mode, steps, seconds
        self.clock, self.stream = time.perf_counter, (sys.stderr if mode == "bar" else sys.stdout)
        self.last, self.last_step = -1e9, 0
        self.every = 0.25 if mode == "bar" else max(2.0, (seconds or 0) / 10)
        self.marks = None
        if mode == "lines" and steps:
            self.marks = {-(-k * steps // 10) for k in range(1, 11)}  # ceil(k steps / 10)

    def update(self, step, elapsed, chars, loss, val_loss, force=False):
        if not self.mode or (force and step == self.last_step):
            return
        if self.marks is not None:
            if not force and step not in self.marks:
                return
        else:
            now = self.clock()
            if not force and now - self.last < self.every:
                return
            self.last = now
        self.last_step = step
        if self.steps:
            done = step / self.steps
        elif self.seconds:
            done = min(elapsed / self.seconds, 1.0)
        else:
            done = 0.0
        text = f"step {step:>6}  loss {loss:.3f}"
        if val_loss is not None:
            text += f"  val {val_loss:.3f}"
        if self.marks is None:
            rate = chars / elapsed if elapsed > 0 else 0.0
            text += f"  {rate / 1e3:6.0f}k chars/s  {elapsed:5.0f} s"
        if self.mode == "bar":
            filled = int(24 * done)
            self.stream.write(f"\r[{'#' * filled}{'.' * (24 - filled)}] {100 * done:3.0f}%  {text}")
            if force:
                self.stream.write("\n")
        else:
            self.stream.write(f"{100 * done:3.0f}%  {text}\n")
        self.stream.flush()


def _blas_threads(threads):
    """A context that limits BLAS threads (threadpoolctl, if installed)."""
    import contextlib

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl is in requirements.txt
        return contextlib.nullcontext()
    return threadpool_limits(limits=threads, user_api="blas")


def train_char_model(
    text,
    *,
    n_a=100,
    seq_len=50,
    batch_size=64,
    lr=3e-3,
    steps=None,
    seconds=None,
    seed=0,
    val_text=None,
    optimizer="adam",
    clip_norm=5.0,
    eval_every=200,
    dtype=np.float32,
    threads=2,
    progress=False,
    callback=None,
):
    """Train a character-level RNN language model on ``text``.

    The text is cut into ``batch_size`` contiguous streams that are read side
    by side, ``seq_len`` characters at a time (truncated BPTT): the hidden
    state is carried from one chunk to the next, the gradient is cut between
    them. Each pass over the text starts at a random offset with a fresh zero
    state. The gradient's global norm is clipped to ``clip_norm``.

    Args:
        text: the training corpus.
        n_a: hidden units. seq_len: steps per chunk. batch_size: streams.
        lr: learning rate.
        steps: stop after this many updates; seconds: stop after this much
            wall time; give one or both (training stops at the first reached).
        seed: seeds the initial weights and the offsets.
        val_text: held-out text, scored with :meth:`CharModel.loss` every
            ``eval_every`` steps and at the end. Its characters must appear
            in ``text``.
        optimizer: ``"adam"``, ``"adagrad"`` or ``"sgd"``.
        clip_norm: maximum global gradient norm, or None for no clipping.
        dtype: ``np.float32`` (fast) or ``np.float64``.
        threads: CPU threads. The batch is split into this many groups of
            streams, computed side by side, each with single-threaded BLAS
            (see ``_SplitStep``). The result depends on ``threads`` (the
            split changes the rounding), not on how many cores there are.
        progress: False; True for a line at each tenth of the run (step
            and losses, the same lines for the same run); or ``"bar"`` for
            one redrawn line on stderr with speed and time (terminals).
        callback: optional ``callback(step, loss)`` called after each update.

    Returns:
        model: a :class:`CharModel`.
        history: dict with ``train_loss`` (mean nats per character at each
            step), ``val_step`` and ``val_loss``, ``steps``, ``seconds``,
            ``chars`` (characters processed), ``chars_per_second`` and
            ``interrupted``.

    Pressing Ctrl-C (or Jupyter's stop button) ends training early and keeps
    the model trained so far. A non-finite loss raises
    :class:`TrainingDiverged` (a ``ValueError``) carrying the last good model.
    """
    import time

    if not isinstance(text, str) or not text:
        raise ValueError(f"text must be a non-empty str; got {text!r:.40}")
    for name, value in (("n_a", n_a), ("seq_len", seq_len), ("batch_size", batch_size)):
        _check_positive_int(name, value)
    if steps is None and seconds is None:
        raise ValueError("give steps or seconds (or both) to say when to stop; got neither")
    if steps is not None:
        _check_positive_int("steps", steps)
    if seconds is not None and not (np.isfinite(seconds) and seconds > 0):
        raise ValueError(f"seconds must be a positive number; got {seconds!r}")
    if not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive number; got {lr!r}")
    _check_choice("optimizer", optimizer, {"adam", "adagrad", "sgd"})
    if clip_norm is not None and not (np.isfinite(clip_norm) and clip_norm > 0):
        raise ValueError(f"clip_norm must be a positive number or None; got {clip_norm!r}")
    _check_positive_int("eval_every", eval_every)
    _check_positive_int("threads", threads)
    if np.dtype(dtype) not in (np.float32, np.float64):
        raise ValueError(f"dtype must be np.float32 or np.float64; got {dtype!r}")
    if len(text) < seq_len + 1:
        raise ValueError(
            f"text must be longer than one sequence (seq_len + 1 = {seq_len + 1} characters); got {len(text)}"
        )
    vocab = CharVocab(text)
    if val_text is not None:
        if not isinstance(val_text, str) or len(val_text) < 2:
            raise ValueError(f"val_text must be a str of at least 2 characters; got {val_text!r:.40}")
        unknown = sorted(set(val_text) - vocab.char_to_id.keys())
        if unknown:
            raise ValueError(f"val_text has characters that text does not: {unknown!r}")
    ids = vocab.encode(text)
    stream_len = (len(ids) - 1) // batch_size
    if stream_len < seq_len:
        raise ValueError(
            f"text of {len(text)} characters gives each of the batch_size = {batch_size} "
            f"streams {stream_len} characters, fewer than seq_len = {seq_len}; "
            "use a smaller batch_size or seq_len"
        )

    dtype = np.dtype(dtype)
    n_x = vocab.size
    rng = np.random.default_rng(seed)
    flat = np.zeros(_flat_size(n_x, n_a), dtype)
    gflat = np.zeros_like(flat)
    P = _flat_views(flat, n_x, n_a)
    bound = 1.0 / np.sqrt(n_a)  # uniform(-1/sqrt(n_a), 1/sqrt(n_a)), biases 0
    for name in ("WaxT", "WaaT", "WyaT"):
        P[name][...] = rng.uniform(-bound, bound, P[name].shape)
    last_good = flat.copy()
    moment1, moment2 = np.zeros_like(flat), np.zeros_like(flat)
    scratch = np.zeros_like(flat)
    parts = min(threads, batch_size)
    beta1, beta2, eps = 0.9, 0.999, 1e-8

    history = {"train_loss": [], "val_step": [], "val_loss": [], "interrupted": False}

    def snapshot(buffer):
        return CharModel(vocab, _to_course_layout(_flat_views(buffer, n_x, n_a)))

    eval_seconds = 0.0

    def evaluate(step):
        nonlocal eval_seconds
        if val_text is not None:
            t0 = time.perf_counter()
            history["val_step"].append(step)
            history["val_loss"].append(snapshot(flat).loss(val_text))
            eval_seconds += time.perf_counter() - t0

    reporter = _Progress("bar" if progress == "bar" else ("lines" if progress else None), steps, seconds)
    start = time.perf_counter()
    step, chars = 0, 0
    chunks, chunk = None, 0
    h = np.zeros((batch_size, n_a), dtype)
    pool = ThreadPoolExecutor(max_workers=parts, thread_name_prefix="train_char_model") if parts > 1 else None
    split_step = _SplitStep(n_x, n_a, seq_len, batch_size, parts, dtype, pool)
    try:
        with _blas_threads(1):
            while True:
                elapsed = time.perf_counter() - start
                if (steps is not None and step >= steps) or (seconds is not None and elapsed >= seconds):
                    break
                if chunks is None or chunk == chunks:
                    # A new pass: random offset, fresh streams, zero state.
                    offset = int(rng.integers(0, seq_len))
                    n_chunks = (len(ids) - 1 - offset) // batch_size // seq_len
                    span = n_chunks * seq_len
                    streams = ids[offset : offset + batch_size * span + 1]
                    inputs = streams[:-1].reshape(batch_size, span)
                    targets = streams[1:].reshape(batch_size, span)
                    chunks, chunk = n_chunks, 0
                    h[...] = 0
                cols = slice(chunk * seq_len, (chunk + 1) * seq_len)
                loss = split_step(P, gflat, inputs[:, cols].T, targets[:, cols].T, h)
                chunk += 1
                if not np.isfinite(loss):
                    model = snapshot(last_good)
                    history["seconds"] = time.perf_counter() - start
                    raise TrainingDiverged(
                        f"the loss became non-finite at step {step + 1} (lr = {lr} may be too high); "
                        f"the model from step {step} is kept as .model",
                        model,
                        history,
                    )
                last_good[...] = flat
                if clip_norm is not None:
                    norm = float(np.sqrt(np.dot(gflat, gflat)))
                    if norm > clip_norm:
                        gflat *= clip_norm / norm
                step += 1
                if optimizer == "adam":
                    moment1 *= beta1
                    moment1 += (1 - beta1) * gflat
                    moment2 *= beta2
                    np.multiply(gflat, gflat, out=scratch)
                    moment2 += (1 - beta2) * scratch
                    step_size = lr * np.sqrt(1 - beta2**step) / (1 - beta1**step)
                    np.sqrt(moment2, out=scratch)
                    scratch += eps
                    np.divide(moment1, scratch, out=scratch)
                    scratch *= step_size
                    flat -= scratch
                elif optimizer == "adagrad":
                    np.multiply(gflat, gflat, out=scratch)
                    moment2 += scratch
                    np.sqrt(moment2, out=scratch)
                    scratch += eps
                    np.divide(gflat, scratch, out=scratch)
                    scratch *= lr
                    flat -= scratch
                else:
                    flat -= lr * gflat
                chars += seq_len * batch_size
                history["train_loss"].append(loss)
                if val_text is not None and (step % eval_every == 0 or step == steps):
                    evaluate(step)
                if callback is not None:
                    callback(step, loss)
                reporter.update(
                    step,
                    time.perf_counter() - start - eval_seconds,
                    chars,
                    loss,
                    history["val_loss"][-1] if history["val_loss"] else None,
                )
    except KeyboardInterrupt:
        history["interrupted"] = True
        print(f"\nTraining interrupted at step {step}: keeping the model trained so far.")
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    if val_text is not None and step > 0 and (not history["val_step"] or history["val_step"][-1] != step):
        evaluate(step)
    elapsed = time.perf_counter() - start
    train_seconds = elapsed - eval_seconds  # throughput counts training only
    history.update(
        steps=step,
        seconds=elapsed,
        chars=chars,
        chars_per_second=chars / train_seconds if train_seconds > 0 else 0.0,
    )
    if step:
        reporter.update(
            step,
            train_seconds,
            chars,
            history["train_loss"][-1],
            history["val_loss"][-1] if history["val_loss"] else None,
            force=True,
        )
    return snapshot(flat), history


# ---------------------------------------------------------------------------
# Command line: python -m char_trainer train FILE / sample MODEL
# ---------------------------------------------------------------------------


def main(argv=None):
    """``python -m char_trainer train FILE ...`` and ``python -m char_trainer sample MODEL ...``."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog="python -m char_trainer",
        description="Train a character-level RNN language model on a text file, or sample from one.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train a model on a UTF-8 text file")
    train.add_argument("file", type=Path, help="the training text")
    train.add_argument(
        "--seconds", type=float, default=None, help="wall time to train for (default 60 unless --steps)"
    )
    train.add_argument("--steps", type=int, default=None, help="number of updates to train for")
    train.add_argument("--n-a", type=int, default=100, help="hidden units (default 100)")
    train.add_argument(
        "--seq-len", type=int, default=50, help="characters per truncated-BPTT chunk (default 50)"
    )
    train.add_argument("--batch-size", type=int, default=64, help="streams read side by side (default 64)")
    train.add_argument("--lr", type=float, default=3e-3, help="learning rate (default 0.003)")
    train.add_argument("--optimizer", choices=["adam", "adagrad", "sgd"], default="adam")
    train.add_argument(
        "--val-fraction",
        type=float,
        default=0.1,
        help="share of the text, at its end, held out (default 0.1)",
    )
    train.add_argument(
        "--shuffle-lines",
        action="store_true",
        help="shuffle the file's lines (seeded) before holding out the end: for lists such as names",
    )
    train.add_argument("--seed", type=int, default=0)
    train.add_argument(
        "--threads", type=int, default=2, help="CPU threads; the batch is split between them (default 2)"
    )
    train.add_argument(
        "--save", type=Path, default=Path("model.npz"), help="where to write the model (default model.npz)"
    )
    sample = sub.add_parser("sample", help="generate text from a saved model")
    sample.add_argument("model", type=Path, help="a .npz file written by train")
    sample.add_argument("--n", type=int, default=500, help="characters to generate (default 500)")
    sample.add_argument(
        "--temperature",
        type=float,
        default=0.8,
        help="0 is greedy; below 1 is safer, above 1 wilder (default 0.8)",
    )
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--prefix", default="", help="text to start from")
    args = parser.parse_args(argv)

    try:
        if args.command == "sample":
            model = load_char_model(args.model)
            print(model.sample(args.n, temperature=args.temperature, seed=args.seed, prefix=args.prefix))
            return 0
        text = args.file.read_text(encoding="utf-8")
        if args.shuffle_lines:  # a sorted list would otherwise hold out only its last letters
            lines = text.splitlines(keepends=True)
            if lines and not lines[-1].endswith("\n"):
                lines[-1] += "\n"
            order = np.random.default_rng(args.seed).permutation(len(lines))
            text = "".join(lines[i] for i in order)
        if not 0 <= args.val_fraction < 1:
            raise ValueError(f"--val-fraction must be in [0, 1); got {args.val_fraction}")
        split = len(text) - int(len(text) * args.val_fraction)
        train_text, val_text = text[:split], text[split:] or None
        if val_text is not None:
            unknown = sorted(set(val_text) - set(train_text))
            if unknown:  # score only what the model can know
                print(
                    f"note: held-out text has characters absent from training, dropped for scoring: {unknown!r}",
                    file=sys.stderr,
                )
                val_text = "".join(c for c in val_text if c not in unknown)
            if len(val_text) < 2:
                val_text = None
        seconds = args.seconds if args.seconds is not None or args.steps is not None else 60.0
        print(
            f"training on {len(train_text):,} characters ({len(set(train_text))} distinct), "
            f"holding out {len(val_text or ''):,}",
            file=sys.stderr,
        )
        model, history = train_char_model(
            train_text,
            n_a=args.n_a,
            seq_len=args.seq_len,
            batch_size=args.batch_size,
            lr=args.lr,
            steps=args.steps,
            seconds=seconds,
            seed=args.seed,
            val_text=val_text,
            optimizer=args.optimizer,
            threads=args.threads,
            eval_every=10**9,
            progress="bar",
        )
        model.save(args.save)
        recent = history["train_loss"][-100:]
        print(f"{history['steps']} steps, {history['chars_per_second'] / 1e3:.0f}k characters per second")
        print(f"training loss (last {len(recent)} steps) {np.mean(recent):.3f} nats/char")
        if history["val_loss"]:
            print(
                f"held-out loss {history['val_loss'][-1]:.3f} nats/char "
                f"(perplexity {np.exp(history['val_loss'][-1]):.1f})"
            )
        print(f"saved {args.save}; try: python -m char_trainer sample {args.save} --n 500")
        return 0
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
