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


if (
    __name__ == "__main__"
):  # the command line lives in char_trainer; this keeps `python -m rnn_utils train` working
    from char_trainer import main

    raise SystemExit(main())
