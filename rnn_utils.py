"""The shared code of rnn-course: a recurrent neural network in numpy.

The notebooks teach each piece; this module keeps the version they import.
It follows the notation of the course:

- ``x`` holds a batch of input sequences, shape ``(n_x, m, T_x)``: feature,
  example, time step. ``x[:, i, t]`` is ``x^{(i)<t+1>}`` (Python counts from 0,
  the notes from 1).
- ``a`` holds the hidden activations, shape ``(n_a, m, T_x)``; ``a0`` is
  ``a^{<0>}``, shape ``(n_a, m)``, usually zeros.
- ``y_hat`` holds the outputs, shape ``(n_y, m, T_x)``.
- The parameters are a dict with ``Waa (n_a, n_a)``, ``Wax (n_a, n_x)``,
  ``Wya (n_y, n_a)``, ``ba (n_a, 1)`` and ``by (n_y, 1)``, shared by every
  time step.

Columns are examples, as in the notes, so a layer is ``W @ a + b``.

The order of this file follows the course: text to ids (vocabulary, one-hot,
padding), activations, parameters, the forward pass, the losses, then
backpropagation through time.
Every public function checks its inputs and raises ``ValueError`` naming the
argument, what was expected and what it got.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

__all__ = [
    "DATA_DIR",
    "CharVocab",
    "one_hot",
    "pad_batch",
    "sigmoid",
    "softmax",
    "relu",
    "G1_FUNCTIONS",
    "G2_FUNCTIONS",
    "init_params",
    "rnn_cell_forward",
    "rnn_forward",
    "binary_cross_entropy",
    "cross_entropy",
    "rnn_cell_backward",
    "rnn_backward",
    "rnn_loss_and_grads",
    "grad_check",
    "clip_gradients",
    "fast_loss_and_grads",
    "CharModel",
    "load_char_model",
    "TrainingDiverged",
    "train_char_model",
]

#: Folder of the corpora bundled with the course.
DATA_DIR = Path(__file__).resolve().parent / "data"


# ---------------------------------------------------------------------------
# Input checks shared by the public functions
# ---------------------------------------------------------------------------


def _as_float_array(name, value):
    """Return ``value`` as a floating-point array, refusing non-finite entries."""
    arr = np.asarray(value)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{name} must be a numeric array; got dtype {arr.dtype}")
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} must contain only finite numbers; got {bad} NaN or infinite value(s)")
    return arr


def _check_shape(name, arr, expected, labels):
    """Check ``arr.shape`` against ``expected``, where ``None`` matches any size.

    ``labels`` names each axis (for example ``("n_x", "m", "T_x")``) so that the
    message reads ``x must have shape (n_x, m, T_x) = (27, m, T_x); got (27, 5)``.
    """
    ok = len(arr.shape) == len(expected) and all(e is None or e == s for e, s in zip(expected, arr.shape))
    if not ok:
        symbolic = "(" + ", ".join(labels) + ")"
        concrete = (
            "("
            + ", ".join(lab if e is None else str(e) for e, lab in zip(expected, labels))
            + (",)" if len(labels) == 1 else ")")
        )
        if concrete == symbolic:
            wanted = symbolic
        else:
            wanted = f"{symbolic} = {concrete}"
        raise ValueError(f"{name} must have shape {wanted}; got {tuple(arr.shape)}")


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}; got {value!r}")


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")


# ---------------------------------------------------------------------------
# From text to arrays
# ---------------------------------------------------------------------------


class CharVocab:
    """A character vocabulary: each distinct character gets an integer id.

    Ids follow sorted character order, so the same text always gives the same
    vocabulary. ``vocab.chars[i]`` is the character with id ``i``;
    ``vocab.char_to_id[c]`` goes the other way.

    >>> vocab = CharVocab("hello")
    >>> vocab.chars
    ['e', 'h', 'l', 'o']
    >>> vocab.encode("hole").tolist()
    [1, 3, 2, 0]
    >>> vocab.decode([1, 0, 2, 2, 3])
    'hello'
    """

    def __init__(self, text):
        if not isinstance(text, str):
            raise ValueError(f"text must be a str; got {type(text).__name__}")
        if not text:
            raise ValueError("text must contain at least one character; got ''")
        self.chars = sorted(set(text))
        self.char_to_id = {c: i for i, c in enumerate(self.chars)}

    @property
    def size(self):
        """Number of distinct characters, the one-hot length ``n_x``."""
        return len(self.chars)

    def __len__(self):
        return len(self.chars)

    def __repr__(self):
        return f"CharVocab(size={self.size}, chars={''.join(self.chars)!r})"

    def encode(self, text):
        """Turn a string into an int64 array of ids, shape ``(len(text),)``.

        Raises ``ValueError`` listing every character the vocabulary lacks.
        """
        if not isinstance(text, str):
            raise ValueError(f"text must be a str; got {type(text).__name__}")
        unknown = sorted(set(text) - self.char_to_id.keys())
        if unknown:
            raise ValueError(
                f"text contains characters not in the vocabulary: {unknown!r}; "
                f"the vocabulary has {''.join(self.chars)!r}"
            )
        return np.array([self.char_to_id[c] for c in text], dtype=np.int64)

    def decode(self, ids):
        """Turn a sequence of ids back into a string."""
        ids = np.asarray(ids)
        if ids.ndim != 1 or (ids.size and not np.issubdtype(ids.dtype, np.integer)):
            raise ValueError(
                f"ids must be a 1-D sequence of integers; got shape {ids.shape} and dtype {ids.dtype}"
            )
        bad = ids[(ids < 0) | (ids >= self.size)]
        if bad.size:
            raise ValueError(f"ids must lie in [0, {self.size - 1}]; got {sorted(set(bad.tolist()))}")
        return "".join(self.chars[i] for i in ids.tolist())


def one_hot(ids, n):
    """One-hot encode integer ids along a new first axis.

    Args:
        ids: integer array of any shape ``S``, each entry in ``[0, n)``; for
            example ``(T_x,)`` for one sequence or ``(m, T_x)`` for a batch.
        n: number of classes (the vocabulary size ``n_x``).

    Returns:
        float64 array of shape ``(n, *S)`` with ``out[ids[s], s] = 1``.
    """
    _check_positive_int("n", n)
    ids = np.asarray(ids)
    if ids.size and not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"ids must be integers; got dtype {ids.dtype}")
    ids = ids.astype(np.int64)
    bad = ids[(ids < 0) | (ids >= n)]
    if bad.size:
        raise ValueError(f"ids must lie in [0, n) = [0, {n}); got {sorted(set(bad.tolist()))}")
    out = np.zeros((n,) + ids.shape)
    np.put_along_axis(out, ids[np.newaxis], 1.0, axis=0)
    return out


def pad_batch(sequences, n_x):
    """Stack id sequences of different lengths into one padded batch.

    Shorter sequences are padded at the end with all-zero vectors, and the
    mask records which steps are real.

    Args:
        sequences: list of ``m`` 1-D integer arrays (or lists) of ids in
            ``[0, n_x)``, of lengths ``T_x^{(i)} >= 1``.
        n_x: vocabulary size.

    Returns:
        x: float64 array ``(n_x, m, T_x)`` with ``T_x = max_i T_x^{(i)}``;
            ``x[:, i, t]`` is one-hot for a real step and all zeros after the
            end of sequence ``i``.
        mask: float64 array ``(m, T_x)``, 1 at real steps and 0 at padding.
    """
    _check_positive_int("n_x", n_x)
    if isinstance(sequences, np.ndarray) and sequences.ndim == 2:
        sequences = list(sequences)
    if not isinstance(sequences, (list, tuple)) or not sequences:
        raise ValueError(f"sequences must be a non-empty list of id sequences; got {sequences!r:.60}")
    lengths = [len(s) for s in sequences]
    if min(lengths) < 1:
        empty = [i for i, n in enumerate(lengths) if n == 0]
        raise ValueError(f"sequences must each hold at least one id; sequence(s) {empty} are empty")
    m, T_x = len(sequences), max(lengths)
    ids = np.zeros((m, T_x), dtype=np.int64)
    mask = np.zeros((m, T_x))
    for i, seq in enumerate(sequences):
        ids[i, : lengths[i]] = seq
        mask[i, : lengths[i]] = 1.0
    x = one_hot(ids, n_x) * mask  # padded steps become all-zero vectors
    return x, mask


# ---------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------


def sigmoid(z):
    """Logistic function ``1 / (1 + exp(-z))``, element-wise, without overflow.

    For very negative ``z``, ``exp(-z)`` would overflow; the equal form
    ``exp(z) / (1 + exp(z))`` is used there instead.
    """
    z = _as_float_array("z", z)
    e = np.exp(-np.abs(z))  # in (0, 1], never overflows
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def softmax(z, axis=0):
    """Softmax along ``axis`` (default 0, the class axis of ``(n_y, m[, T])``).

    Subtracting the maximum first leaves the result unchanged (softmax is
    invariant to adding a constant) and keeps ``exp`` from overflowing.
    """
    z = _as_float_array("z", z)
    if z.ndim == 0:
        raise ValueError("z must have at least one axis; got a scalar")
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def relu(z):
    """Rectified linear unit ``max(0, z)``, element-wise."""
    z = _as_float_array("z", z)
    return np.maximum(z, 0.0)


#: Hidden activations ``g1`` by name.
G1_FUNCTIONS = {"tanh": np.tanh, "relu": relu}
#: Output activations ``g2`` by name.
G2_FUNCTIONS = {"sigmoid": sigmoid, "softmax": softmax}


# ---------------------------------------------------------------------------
# Parameters and the forward pass
# ---------------------------------------------------------------------------

_PARAM_LABELS = {
    "Waa": ("n_a", "n_a"),
    "Wax": ("n_a", "n_x"),
    "Wya": ("n_y", "n_a"),
    "ba": ("n_a", "1"),
    "by": ("n_y", "1"),
}


def init_params(n_x, n_a, n_y, rng, scale=0.01, dtype=np.float64):
    """Random weights and zero biases for an RNN.

    Args:
        n_x: input size (vocabulary size for one-hot characters).
        n_a: number of hidden units.
        n_y: output size.
        rng: a ``numpy.random.Generator``, e.g. ``np.random.default_rng(0)``.
        scale: standard deviation of the normally distributed weights.
        dtype: floating-point type of every array.

    Returns:
        dict with ``Waa (n_a, n_a)``, ``Wax (n_a, n_x)``, ``Wya (n_y, n_a)``,
        ``ba (n_a, 1)`` and ``by (n_y, 1)``.
    """
    for name, value in (("n_x", n_x), ("n_a", n_a), ("n_y", n_y)):
        _check_positive_int(name, value)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(
            f"rng must be a numpy.random.Generator such as np.random.default_rng(0); got {type(rng).__name__}"
        )
    if not (np.isfinite(scale) and scale >= 0):
        raise ValueError(f"scale must be a finite number >= 0; got {scale!r}")
    if not np.issubdtype(np.dtype(dtype), np.floating):
        raise ValueError(f"dtype must be a floating-point type; got {dtype!r}")

    def normal(*shape):
        return (scale * rng.standard_normal(shape)).astype(dtype)

    return {
        "Waa": normal(n_a, n_a),
        "Wax": normal(n_a, n_x),
        "Wya": normal(n_y, n_a),
        "ba": np.zeros((n_a, 1), dtype=dtype),
        "by": np.zeros((n_y, 1), dtype=dtype),
    }


def _check_params(params, n_x=None):
    """Check the five parameter arrays for presence, finiteness and agreeing
    shapes; return ``(n_x, n_a, n_y)`` and the arrays as floats."""
    if not isinstance(params, dict):
        raise ValueError(f"params must be a dict; got {type(params).__name__}")
    missing = [k for k in _PARAM_LABELS if k not in params]
    if missing:
        raise ValueError(f"params must have keys {list(_PARAM_LABELS)}; missing {missing}")
    p = {k: _as_float_array(f"params['{k}']", params[k]) for k in _PARAM_LABELS}
    for k in ("Waa", "Wax", "Wya"):
        if p[k].ndim != 2:
            _check_shape(f"params['{k}']", p[k], (None, None), _PARAM_LABELS[k])
    n_a, n_y = p["Waa"].shape[0], p["Wya"].shape[0]
    n_x = p["Wax"].shape[1] if n_x is None else n_x
    sizes = {"n_a": n_a, "n_x": n_x, "n_y": n_y, "1": 1}
    for k, labels in _PARAM_LABELS.items():
        _check_shape(f"params['{k}']", p[k], tuple(sizes[lab] for lab in labels), labels)
    return n_x, n_a, n_y, p


def _check_activations(g1, g2):
    _check_choice("g1", g1, G1_FUNCTIONS)
    _check_choice("g2", g2, G2_FUNCTIONS)


def _cell_forward(xt, a_prev, p, g1, g2):
    """One time step without input checks (the public functions check once)."""
    z = p["Waa"] @ a_prev + p["Wax"] @ xt + p["ba"]
    a_next = G1_FUNCTIONS[g1](z)
    yt_hat = G2_FUNCTIONS[g2](p["Wya"] @ a_next + p["by"])
    cache = {"a_next": a_next, "a_prev": a_prev, "xt": xt, "params": p, "g1": g1}
    return a_next, yt_hat, cache


def rnn_cell_forward(xt, a_prev, params, g1="tanh", g2="softmax"):
    """One step of the RNN, for a batch of ``m`` examples.

    ``a_next = g1(Waa @ a_prev + Wax @ xt + ba)`` and
    ``yt_hat = g2(Wya @ a_next + by)``.

    Args:
        xt: input at this step, ``(n_x, m)``.
        a_prev: hidden state of the previous step, ``(n_a, m)``.
        params: dict with ``Waa (n_a, n_a)``, ``Wax (n_a, n_x)``,
            ``Wya (n_y, n_a)``, ``ba (n_a, 1)``, ``by (n_y, 1)``.
        g1: hidden activation, ``"tanh"`` or ``"relu"``.
        g2: output activation, ``"softmax"`` or ``"sigmoid"``.

    Returns:
        a_next: ``(n_a, m)``.
        yt_hat: ``(n_y, m)``.
        cache: dict with ``a_next``, ``a_prev``, ``xt``, ``params`` and ``g1``,
            the values the backward step needs.
    """
    _check_activations(g1, g2)
    n_x, n_a, _, p = _check_params(params)
    xt = _as_float_array("xt", xt)
    _check_shape("xt", xt, (n_x, None), ("n_x", "m"))
    a_prev = _as_float_array("a_prev", a_prev)
    _check_shape("a_prev", a_prev, (n_a, xt.shape[1]), ("n_a", "m"))
    return _cell_forward(xt, a_prev, p, g1, g2)


def rnn_forward(x, a0, params, g1="tanh", g2="softmax"):
    """Run the RNN over whole sequences: the same cell, the same weights, at
    every step, each step starting from the previous step's hidden state.

    Args:
        x: inputs, ``(n_x, m, T_x)``.
        a0: initial hidden state ``a^{<0>}``, ``(n_a, m)`` (zeros in the notes).
        params: as in :func:`rnn_cell_forward`.
        g1, g2: activation names, as in :func:`rnn_cell_forward`.

    Returns:
        a: hidden states, ``(n_a, m, T_x)``; ``a[:, :, t]`` is ``a^{<t+1>}``.
        y_hat: outputs, ``(n_y, m, T_x)``.
        caches: ``(list of T_x step caches, x)`` for the backward pass.
    """
    _check_activations(g1, g2)
    n_x, n_a, n_y, p = _check_params(params)
    x = _as_float_array("x", x)
    _check_shape("x", x, (n_x, None, None), ("n_x", "m", "T_x"))
    _, m, T_x = x.shape
    if T_x < 1:
        raise ValueError("x must have at least one time step; got T_x = 0")
    a0 = _as_float_array("a0", a0)
    _check_shape("a0", a0, (n_a, m), ("n_a", "m"))

    dtype = np.result_type(x, a0, *p.values())
    a = np.zeros((n_a, m, T_x), dtype=dtype)
    y_hat = np.zeros((n_y, m, T_x), dtype=dtype)
    caches = []
    a_prev = a0
    for t in range(T_x):
        a_prev, y_hat[:, :, t], cache = _cell_forward(x[:, :, t], a_prev, p, g1, g2)
        a[:, :, t] = a_prev
        caches.append(cache)
    return a, y_hat, (caches, x)


# ---------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------


def _check_loss_inputs(y_hat, y, mask):
    """Shared checks of the losses: probabilities, same-shaped targets, a mask
    of shape ``y_hat.shape[1:]``. Returns the three as float arrays."""
    y_hat = _as_float_array("y_hat", y_hat)
    if y_hat.ndim not in (2, 3):
        raise ValueError(f"y_hat must have shape (n_y, m, T_y), or (n_y, m) for one step; got {y_hat.shape}")
    labels = ("n_y", "m", "T_y")[: y_hat.ndim]
    if np.any((y_hat < 0) | (y_hat > 1)):
        raise ValueError(
            "y_hat must hold probabilities in [0, 1]; got values from "
            f"{y_hat.min():.4g} to {y_hat.max():.4g} (pass g2 outputs, not logits)"
        )
    y = _as_float_array("y", y)
    _check_shape("y", y, y_hat.shape, labels)
    if np.any((y < 0) | (y > 1)):
        raise ValueError(f"y must hold targets in [0, 1]; got values from {y.min():.4g} to {y.max():.4g}")
    if mask is None:
        mask = np.ones(y_hat.shape[1:])
    else:
        mask = _as_float_array("mask", mask)
        _check_shape("mask", mask, y_hat.shape[1:], labels[1:])
        if np.any((mask != 0) & (mask != 1)):
            raise ValueError("mask must hold only 0 (padding) and 1 (real step)")
    return y_hat, y, mask


def _safe_log(p):
    """``log(p)`` with ``p = 0`` mapped to ``log`` of the smallest positive
    float, so a confident wrong answer costs a large finite amount, not inf."""
    return np.log(np.maximum(p, np.finfo(p.dtype).tiny))


def binary_cross_entropy(y_hat, y, mask=None):
    """Binary cross-entropy of sigmoid outputs, summed over units, examples and
    unmasked steps.

    Per unit and step: ``L = -(y log y_hat + (1 - y) log(1 - y_hat))``.

    Args:
        y_hat: predicted probabilities in ``[0, 1]``, ``(n_y, m, T_y)`` (or
            ``(n_y, m)`` for a single step).
        y: 0/1 targets, same shape as ``y_hat``.
        mask: optional ``(m, T_y)`` (or ``(m,)``) of 1 for real steps, 0 for
            padding; masked steps contribute nothing.

    Returns:
        The cost ``J`` as a Python float.
    """
    y_hat, y, mask = _check_loss_inputs(y_hat, y, mask)
    # Skip the term whose weight is zero: 0 * log(0) must count as 0, not NaN.
    pos = np.where(y > 0, y * _safe_log(y_hat), 0.0)
    neg = np.where(y < 1, (1 - y) * _safe_log(1 - y_hat), 0.0)
    return float(-np.sum((pos + neg) * mask)) + 0.0  # + 0.0 turns -0.0 into 0.0


def cross_entropy(y_hat, y, mask=None):
    """Categorical cross-entropy of softmax outputs, summed over examples and
    unmasked steps.

    Per step: ``L = -sum_k y_k log y_hat_k``, i.e. minus the log-probability
    given to the correct class when ``y`` is one-hot.

    Args:
        y_hat: predicted distributions, ``(n_y, m, T_y)`` (or ``(n_y, m)``),
            each column summing to 1.
        y: one-hot targets, same shape as ``y_hat``.
        mask: optional ``(m, T_y)`` (or ``(m,)``), 0 at padded steps.

    Returns:
        The cost ``J`` as a Python float.
    """
    y_hat, y, mask = _check_loss_inputs(y_hat, y, mask)
    per_step = -np.sum(np.where(y > 0, y * _safe_log(y_hat), 0.0), axis=0)
    return float(np.sum(per_step * mask))


# ---------------------------------------------------------------------------
# Backpropagation through time
# ---------------------------------------------------------------------------


def _check_cache(name, cache):
    keys = {"a_next", "a_prev", "xt", "params", "g1"}
    if not isinstance(cache, dict) or not keys <= cache.keys():
        raise ValueError(
            f"{name} must be a cache returned by rnn_cell_forward (a dict with keys "
            f"{sorted(keys)}); got {type(cache).__name__}"
        )


def _cell_backward(da_next, cache):
    """One step back without input checks; see :func:`rnn_cell_backward`."""
    a_next, a_prev, xt, p = cache["a_next"], cache["a_prev"], cache["xt"], cache["params"]
    if cache["g1"] == "tanh":
        dz = da_next * (1.0 - a_next**2)  # tanh'(z) = 1 - tanh(z)^2
    else:
        dz = da_next * (a_next > 0)  # ReLU'(z) is 1 where z > 0, else 0
    return {
        "dxt": p["Wax"].T @ dz,
        "da_prev": p["Waa"].T @ dz,
        "dWax": dz @ xt.T,
        "dWaa": dz @ a_prev.T,
        "dba": dz.sum(axis=1, keepdims=True),
    }


def rnn_cell_backward(da_next, cache):
    """Gradients of one RNN step, given the gradient reaching its output state.

    With ``z = Waa @ a_prev + Wax @ xt + ba`` and ``a_next = g1(z)``:
    ``dz = da_next * g1'(z)`` (element-wise), then ``dWax = dz @ xt.T``,
    ``dWaa = dz @ a_prev.T``, ``dba = dz`` summed over examples,
    ``dxt = Wax.T @ dz`` and ``da_prev = Waa.T @ dz``.

    Args:
        da_next: gradient of the cost with respect to ``a_next``, ``(n_a, m)``:
            everything that reaches it, from this step's output and from the
            next step.
        cache: the cache returned by :func:`rnn_cell_forward` for this step.

    Returns:
        dict with ``dxt (n_x, m)``, ``da_prev (n_a, m)``, ``dWax (n_a, n_x)``,
        ``dWaa (n_a, n_a)`` and ``dba (n_a, 1)``.
    """
    _check_cache("cache", cache)
    da_next = _as_float_array("da_next", da_next)
    n_a, m = cache["a_next"].shape
    _check_shape("da_next", da_next, (n_a, m), ("n_a", "m"))
    return _cell_backward(da_next, cache)


def rnn_backward(da, caches):
    """Backpropagation through time for the recurrent part of the network.

    Walks the steps from last to first. At each step the gradient reaching
    ``a^{<t>}`` is the part from that step's output, ``da[:, :, t]``, plus the
    part flowing back from step ``t + 1``; the weight gradients are summed over
    the steps because every step uses the same weights.

    Args:
        da: gradient of the cost with respect to each hidden state through the
            output layer only, ``(n_a, m, T_x)``.
        caches: the ``caches`` returned by :func:`rnn_forward`.

    Returns:
        dict with ``dx (n_x, m, T_x)``, ``da0 (n_a, m)``, ``dWax (n_a, n_x)``,
        ``dWaa (n_a, n_a)`` and ``dba (n_a, 1)``.
    """
    if not (isinstance(caches, tuple) and len(caches) == 2 and isinstance(caches[0], list)):
        raise ValueError(
            "caches must be the (list of step caches, x) pair returned by rnn_forward; "
            f"got {type(caches).__name__}"
        )
    step_caches, x = caches
    if not step_caches:
        raise ValueError("caches must hold at least one step; got none")
    for t, cache in enumerate(step_caches):
        _check_cache(f"caches[0][{t}]", cache)
    n_x, m, T_x = x.shape
    n_a = step_caches[0]["a_next"].shape[0]
    da = _as_float_array("da", da)
    _check_shape("da", da, (n_a, m, T_x), ("n_a", "m", "T_x"))

    p = step_caches[0]["params"]
    dtype = np.result_type(da, x, *p.values())
    dx = np.zeros((n_x, m, T_x), dtype=dtype)
    grads = {k: np.zeros_like(p[k[1:]], dtype=dtype) for k in ("dWax", "dWaa", "dba")}
    da_prev = np.zeros((n_a, m), dtype=dtype)
    for t in reversed(range(T_x)):
        step = _cell_backward(da[:, :, t] + da_prev, step_caches[t])
        dx[:, :, t] = step["dxt"]
        da_prev = step["da_prev"]
        for k in grads:
            grads[k] += step[k]
    return {"dx": dx, "da0": da_prev, **grads}


def rnn_loss_and_grads(x, y, a0, params, g1="tanh", g2="softmax", mask=None):
    """The cost of a whole RNN on a batch, and its gradients.

    Runs :func:`rnn_forward`, scores the outputs with :func:`cross_entropy`
    (``g2="softmax"``) or :func:`binary_cross_entropy` (``g2="sigmoid"``),
    then backpropagates. For both pairings the gradient at the output
    pre-activation is ``y_hat - y`` (for softmax, ``y_hat * sum_k y_k - y``,
    which is the same when each ``y`` column is one-hot), times the mask.

    Args:
        x: inputs ``(n_x, m, T_x)``.
        y: targets with the shape of ``y_hat``, ``(n_y, m, T_x)``.
        a0: initial hidden state ``(n_a, m)``.
        params: as in :func:`rnn_cell_forward`.
        g1, g2: activation names.
        mask: optional ``(m, T_x)``, 0 at padded steps.

    Returns:
        J: the cost, a float, summed over examples and unmasked steps.
        grads: dict with ``dWaa``, ``dWax``, ``dWya``, ``dba``, ``dby`` and
            ``da0``, each with the shape of what it differentiates.
        a_last: the final hidden state ``a^{<T_x>}``, ``(n_a, m)``, to carry
            into the next chunk of a long sequence (truncated BPTT).
    """
    a, y_hat, caches = rnn_forward(x, a0, params, g1=g1, g2=g2)
    _, y, mask = _check_loss_inputs(y_hat, y, mask)
    p = caches[0][0]["params"]
    logits = np.einsum("ya,amt->ymt", p["Wya"], a) + p["by"][:, :, np.newaxis]
    # The cost is computed from the logits, not from y_hat: log(1 - y_hat)
    # loses most of its digits when y_hat is close to 1, which is enough to
    # spoil a finite-difference check. It equals cross_entropy(y_hat, y, mask)
    # (or binary_cross_entropy) up to that rounding error.
    if g2 == "softmax":
        shifted = logits - logits.max(axis=0, keepdims=True)
        log_y_hat = shifted - np.log(np.exp(shifted).sum(axis=0, keepdims=True))
        per_step = -np.sum(y * log_y_hat, axis=0)
        dlogits = (y_hat * y.sum(axis=0) - y) * mask
    else:
        # -log(sigmoid(z)) = log(1 + e^-z) and -log(1 - sigmoid(z)) = log(1 + e^z)
        per_step = np.sum(y * np.logaddexp(0, -logits) + (1 - y) * np.logaddexp(0, logits), axis=0)
        dlogits = (y_hat - y) * mask
    J = float(np.sum(per_step * mask))
    grads = rnn_backward(np.einsum("ya,ymt->amt", p["Wya"], dlogits), caches)
    return (
        J,
        {
            "dWaa": grads["dWaa"],
            "dWax": grads["dWax"],
            "dWya": np.einsum("ymt,amt->ya", dlogits, a),
            "dba": grads["dba"],
            "dby": dlogits.sum(axis=(1, 2))[:, np.newaxis],
            "da0": grads["da0"],
        },
        a[:, :, -1],
    )


def grad_check(loss_fn, inputs, grads, eps=1e-5):
    """Compare analytic gradients with centred finite differences.

    Every entry of every array in ``inputs`` is nudged by ``+eps`` and
    ``-eps`` in turn, and ``(J(+) - J(-)) / (2 eps)`` estimates the
    derivative. Use float64: in float32 the rounding error of ``J`` swamps the
    difference.

    Args:
        loss_fn: function of no arguments returning the cost as a float; it
            must read the arrays of ``inputs`` (which are changed in place and
            restored).
        inputs: dict of float64 arrays, e.g. ``{"Waa": params["Waa"], ...}``.
        grads: dict with an array of the same shape for each name, under the
            same name or with a ``d`` in front (``"dWaa"``).
        eps: the nudge.

    Returns:
        dict name -> relative error ``|g - n| / (|g| + |n|)`` (Euclidean norms
        of the whole analytic array ``g`` and numerical array ``n``; 0 when
        both are 0). Below about 1e-7 the gradient is right.
    """
    if not callable(loss_fn):
        raise ValueError(f"loss_fn must be callable; got {type(loss_fn).__name__}")
    if not (np.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a positive finite number; got {eps!r}")
    errors = {}
    for name, arr in inputs.items():
        if not isinstance(arr, np.ndarray) or arr.dtype != np.float64:
            raise ValueError(
                f"inputs[{name!r}] must be a float64 numpy array (checked in place); "
                f"got {getattr(arr, 'dtype', type(arr).__name__)}"
            )
        key = name if name in grads else "d" + name
        if key not in grads:
            raise ValueError(f"grads has no entry {name!r} or {'d' + name!r}")
        analytic = _as_float_array(f"grads[{key!r}]", grads[key])
        _check_shape(f"grads[{key!r}]", analytic, arr.shape, tuple(str(s) for s in arr.shape))
        numeric = np.zeros(arr.shape)
        # Index the array itself (not a reshaped copy), so views work too, and
        # restore every entry even if loss_fn raises.
        for idx in np.ndindex(arr.shape):
            old = arr[idx]
            try:
                arr[idx] = old + eps
                j_plus = loss_fn()
                arr[idx] = old - eps
                j_minus = loss_fn()
            finally:
                arr[idx] = old
            numeric[idx] = (j_plus - j_minus) / (2 * eps)
        denom = np.linalg.norm(analytic) + np.linalg.norm(numeric)
        errors[name] = 0.0 if denom == 0 else float(np.linalg.norm(analytic - numeric) / denom)
    return errors


def clip_gradients(grads, max_value=None, max_norm=None):
    """Limit the size of gradients, returning new arrays.

    ``max_value`` clips every entry to ``[-max_value, max_value]`` (this can
    change the gradient's direction). ``max_norm`` then rescales all arrays
    together so that their joint Euclidean norm is at most ``max_norm``
    (this keeps the direction). Either, both or neither may be given.

    Args:
        grads: dict name -> array.
        max_value: positive number or None.
        max_norm: positive number or None.

    Returns:
        dict with the same names and shapes.
    """
    if not isinstance(grads, dict) or not grads:
        raise ValueError(f"grads must be a non-empty dict of arrays; got {grads!r:.60}")
    for name, limit in (("max_value", max_value), ("max_norm", max_norm)):
        if limit is not None and not (np.isfinite(limit) and limit > 0):
            raise ValueError(f"{name} must be a positive finite number or None; got {limit!r}")
    out = {k: _as_float_array(f"grads[{k!r}]", v).copy() for k, v in grads.items()}
    if max_value is not None:
        for v in out.values():
            np.clip(v, -max_value, max_value, out=v)
    if max_norm is not None:
        norm = np.sqrt(sum(float(np.sum(v * v)) for v in out.values()))
        if norm > max_norm:
            for v in out.values():
                v *= max_norm / norm
    return out


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
# Command line: python -m rnn_utils train FILE / sample MODEL
# ---------------------------------------------------------------------------


def main(argv=None):
    """``python -m rnn_utils train FILE ...`` and ``python -m rnn_utils sample MODEL ...``."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog="python -m rnn_utils",
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
        print(f"saved {args.save}; try: python -m rnn_utils sample {args.save} --n 500")
        return 0
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
