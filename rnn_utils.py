"""A recurrent neural network in numpy: the code that notebooks 1 to 6 teach.

Read it top to bottom. Each section is headed by the notebook that builds it,
in course order: notation (vocabulary, one-hot, padding), the forward pass,
the loss, backpropagation through time, training and sampling, then the
gated cells (GRU and LSTM), each with its own parameter dict. The input
checks come last: every public function checks its inputs and raises
``ValueError`` naming the argument, what was expected and what it got.

The notation is that of the Sequence Models notes, with examples as columns
(so a layer is ``W @ a + b``): inputs ``x (n_x, m, T_x)`` (feature, example,
time step; ``x[:, i, t]`` is ``x^{(i)<t+1>}``, as Python counts from 0 and the
notes from 1), hidden states ``a (n_a, m, T_x)`` from ``a0 = a^{<0>} (n_a, m)``,
usually zeros, and outputs ``y_hat (n_y, m, T_x)``. ``params`` is a dict of
``Waa (n_a, n_a)``, ``Wax (n_a, n_x)``, ``Wya (n_y, n_a)``, ``ba (n_a, 1)`` and
``by (n_y, 1)``, shared by every time step; ``g1`` is the hidden activation
(``"tanh"`` or ``"relu"``), ``g2`` the output one (``"softmax"`` or ``"sigmoid"``).

The fast trainer of notebook 5 (flat float32 buffers, a fused minibatch step,
threads, saved models, the command line) is in ``char_trainer.py``; its tests
compare it with the functions here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# The public names, by the notebook that teaches them.
__all__ = ["DATA_DIR", "CharVocab", "one_hot", "pad_batch"]  # notebook 1
__all__ += ["sigmoid", "softmax", "relu", "G1_FUNCTIONS", "G2_FUNCTIONS"]  # notebook 2
__all__ += ["init_params", "rnn_cell_forward", "rnn_forward"]
__all__ += ["binary_cross_entropy", "cross_entropy", "cross_entropy_from_logits"]  # notebook 3
__all__ += ["rnn_cell_backward", "rnn_backward", "rnn_loss_and_grads"]  # notebook 4
__all__ += ["grad_check", "clip_gradients"]
__all__ += ["sgd_update", "init_adagrad_state", "adagrad_update"]  # notebook 5
__all__ += ["init_adam_state", "adam_update", "sample"]
__all__ += ["init_gru_params", "gru_cell_forward", "gru_forward", "gru_cell_backward"]  # notebook 6
__all__ += ["gru_backward", "gru_loss_and_grads", "init_lstm_params", "lstm_cell_forward"]
__all__ += ["lstm_forward", "lstm_cell_backward", "lstm_backward", "lstm_loss_and_grads"]

#: Folder of the corpora bundled with the course.
DATA_DIR = Path(__file__).resolve().parent / "data"


# ---------------------------------------------------------------------------
# notebook 1: notation — vocabulary, one-hot and padding
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
        """Turn a string into an int64 array of ids, shape ``(len(text),)``."""
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
        """Turn a 1-D sequence of ids back into a string."""
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

    ``ids`` has any shape ``S`` (``(T_x,)`` for one sequence, ``(m, T_x)`` for
    a batch), each entry in ``[0, n)``; ``n`` is the number of classes
    (``n_x``). Returns a float64 array ``(n, *S)`` with ``out[ids[s], s] = 1``.
    """
    ids = _check_one_hot_inputs(ids, n)
    out = np.zeros((n,) + ids.shape)
    np.put_along_axis(out, ids[np.newaxis], 1.0, axis=0)
    return out


def pad_batch(sequences, n_x):
    """Stack ``m`` id sequences of different lengths into one padded batch.

    ``sequences`` is a list of 1-D id sequences, each of length ``>= 1`` with
    ids in ``[0, n_x)``. Returns ``x (n_x, m, T_x)``, with ``T_x`` the longest
    length, and ``mask (m, T_x)``, 1 at real steps and 0 at padding. Shorter
    sequences are padded at the end with all-zero vectors.
    """
    sequences, lengths = _check_sequences(sequences, n_x)
    m, T_x = len(sequences), max(lengths)
    ids = np.zeros((m, T_x), dtype=np.int64)
    mask = np.zeros((m, T_x))
    for i, seq in enumerate(sequences):
        ids[i, : lengths[i]] = seq
        mask[i, : lengths[i]] = 1.0
    x = one_hot(ids, n_x) * mask  # padded steps become all-zero vectors
    return x, mask


# ---------------------------------------------------------------------------
# notebook 2: the forward pass — activations, parameters, rnn_cell_forward,
# rnn_forward
# ---------------------------------------------------------------------------


def sigmoid(z):
    """Logistic function ``1 / (1 + exp(-z))``, element-wise, without overflow."""
    z = _as_float_array("z", z)
    # For very negative z, exp(-z) would overflow; there the equal form
    # exp(z) / (1 + exp(z)) is used instead.
    e = np.exp(-np.abs(z))  # in (0, 1], never overflows
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def softmax(z, axis=0):
    """Softmax along ``axis`` (default 0, the class axis of ``(n_y, m[, T])``)."""
    z = _as_float_array("z", z)
    if z.ndim == 0:
        raise ValueError("z must have at least one axis; got a scalar")
    # Subtracting the maximum leaves softmax unchanged and keeps exp from overflowing.
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


def init_params(n_x, n_a, n_y, rng, scale=0.01, dtype=np.float64, distribution="normal"):
    """Random weights and zero biases for an RNN with ``n_x`` inputs, ``n_a``
    hidden units and ``n_y`` outputs, drawn from the ``numpy.random.Generator``
    ``rng``: normal with standard deviation ``scale``, or, with
    ``distribution="uniform"``, uniform on ``[-scale, scale)`` (the fast trainer
    uses ``scale = 1 / sqrt(n_a)``). Returns a dict of ``dtype`` arrays
    ``Waa (n_a, n_a)``, ``Wax (n_a, n_x)``, ``Wya (n_y, n_a)``, ``ba (n_a, 1)``
    and ``by (n_y, 1)``."""
    _check_init_args(n_x, n_a, n_y, rng, scale, dtype)
    _check_choice("distribution", distribution, {"normal", "uniform"})

    def draw(*shape):
        if distribution == "uniform":
            return rng.uniform(-scale, scale, shape).astype(dtype)
        return (scale * rng.standard_normal(shape)).astype(dtype)

    return {
        "Waa": draw(n_a, n_a),
        "Wax": draw(n_a, n_x),
        "Wya": draw(n_y, n_a),
        "ba": np.zeros((n_a, 1), dtype=dtype),
        "by": np.zeros((n_y, 1), dtype=dtype),
    }


def rnn_cell_forward(xt, a_prev, params, g1="tanh", g2="softmax", *, check=True):
    """One time step for a batch of ``m`` examples.

    ``xt (n_x, m)`` and ``a_prev (n_a, m)`` in; ``params`` and ``g1``, ``g2``
    as in the module docstring. Returns ``a_next (n_a, m)``, ``yt_hat (n_y, m)``
    and a cache for the backward step, a dict of ``a_next``, ``a_prev``,
    ``xt``, ``params`` and ``g1``.

    ``check=False`` skips the input checks: :func:`rnn_forward` and
    :func:`sample` check once, then run this cell at every step.
    """
    if check:
        xt, a_prev, params = _check_cell_inputs(xt, a_prev, params, g1, g2)
    Waa, Wax, Wya, ba, by = params["Waa"], params["Wax"], params["Wya"], params["ba"], params["by"]
    a_next = G1_FUNCTIONS[g1](Waa @ a_prev + Wax @ xt + ba)
    yt_hat = G2_FUNCTIONS[g2](Wya @ a_next + by)
    cache = {"a_next": a_next, "a_prev": a_prev, "xt": xt, "params": params, "g1": g1}
    return a_next, yt_hat, cache


def rnn_forward(x, a0, params, g1="tanh", g2="softmax"):
    """Run the RNN over whole sequences: the same cell with the same weights at
    every step, each step starting from the previous step's hidden state.

    ``x (n_x, m, T_x)``, ``a0 (n_a, m)`` (zeros in the notes); ``params``,
    ``g1``, ``g2`` as in :func:`rnn_cell_forward`. Returns ``a (n_a, m, T_x)``
    with ``a[:, :, t]`` = ``a^{<t+1>}``, ``y_hat (n_y, m, T_x)``, and
    ``caches``, the pair ``(list of T_x step caches, x)`` for the backward pass.
    """
    x, a0, params = _check_forward_inputs(x, a0, params, g1, g2)
    (_, m, T_x), n_a, n_y = x.shape, a0.shape[0], params["Wya"].shape[0]
    dtype = np.result_type(x, a0, *params.values())  # float32 stays float32
    a = np.zeros((n_a, m, T_x), dtype=dtype)
    y_hat = np.zeros((n_y, m, T_x), dtype=dtype)
    caches = []
    a_prev = a0
    for t in range(T_x):
        a_prev, y_hat[:, :, t], cache = rnn_cell_forward(x[:, :, t], a_prev, params, g1, g2, check=False)
        a[:, :, t] = a_prev
        caches.append(cache)
    return a, y_hat, (caches, x)


# ---------------------------------------------------------------------------
# notebook 3: the loss
# ---------------------------------------------------------------------------


def _safe_log(p):
    """``log(p)`` with ``p = 0`` mapped to ``log`` of the smallest positive
    float, so a confident wrong answer costs a large finite amount, not inf."""
    return np.log(np.maximum(p, np.finfo(p.dtype).tiny))


def binary_cross_entropy(y_hat, y, mask=None):
    """Binary cross-entropy of sigmoid outputs, summed over units, examples and
    unmasked steps: per unit and step, ``-(y log y_hat + (1 - y) log(1 - y_hat))``.

    ``y_hat``: probabilities ``(n_y, m, T_y)``, or ``(n_y, m)`` for one step;
    ``y``: 0/1 targets of the same shape; ``mask``: optional ``(m, T_y)`` (or
    ``(m,)``), 1 at real steps and 0 at padding. Returns the cost ``J``, a float.
    """
    y_hat, y, mask = _check_loss_inputs(y_hat, y, mask)
    # Skip the term whose weight is zero: 0 * log(0) must count as 0, not NaN.
    pos = np.where(y > 0, y * _safe_log(y_hat), 0.0)
    neg = np.where(y < 1, (1 - y) * _safe_log(1 - y_hat), 0.0)
    return float(-np.sum((pos + neg) * mask)) + 0.0  # + 0.0 turns -0.0 into 0.0


def cross_entropy(y_hat, y, mask=None):
    """Categorical cross-entropy of softmax outputs, summed over examples and
    unmasked steps: per step ``-sum_k y_k log y_hat_k``, minus the
    log-probability of the correct class when ``y`` is one-hot.

    ``y_hat``: distributions ``(n_y, m, T_y)`` (or ``(n_y, m)``), each column
    summing to 1; ``y``: one-hot targets of the same shape; ``mask``: optional
    ``(m, T_y)`` (or ``(m,)``), 0 at padding. Returns the cost ``J``, a float.
    """
    y_hat, y, mask = _check_loss_inputs(y_hat, y, mask)
    per_step = -np.sum(np.where(y > 0, y * _safe_log(y_hat), 0.0), axis=0)
    return float(np.sum(per_step * mask))


def cross_entropy_from_logits(z, y, mask=None):
    """:func:`cross_entropy` of ``softmax(z)``, computed from the logits ``z``
    (``n_y, m, T_y``, or ``(n_y, m)``): ``log softmax(z) = z - max(z) -
    log(sum(exp(z - max(z))))``. It stays exact where ``softmax(z)`` would round
    a probability to 0 (a logit gap above about 745 in float64, 104 in
    float32) and the log of it to the smallest float's. Same ``y``, ``mask``,
    and returned ``J``."""
    z, y, mask = _check_loss_inputs(z, y, mask, name="z")
    shifted = z - z.max(axis=0, keepdims=True)
    log_y_hat = shifted - np.log(np.exp(shifted).sum(axis=0, keepdims=True))
    return float(np.sum(-np.sum(y * log_y_hat, axis=0) * mask))


# ---------------------------------------------------------------------------
# notebook 4: backpropagation through time — backward, gradient check, clipping
# ---------------------------------------------------------------------------


def rnn_cell_backward(da_next, cache, *, check=True):
    """Gradients of one time step, given ``da_next (n_a, m)``: everything that
    reaches ``a_next``, from this step's output and from the next step.

    With ``z = Waa @ a_prev + Wax @ xt + ba`` and ``a_next = g1(z)``, the chain
    rule gives ``dz = da_next * g1'(z)``, then the lines below. ``cache`` is the
    one :func:`rnn_cell_forward` returned for this step. Returns a dict of
    ``dxt (n_x, m)``, ``da_prev (n_a, m)``, ``dWax (n_a, n_x)``,
    ``dWaa (n_a, n_a)`` and ``dba (n_a, 1)``. ``check=False`` skips the input
    checks (:func:`rnn_backward` checks once).
    """
    if check:
        da_next = _check_cell_backward_inputs(da_next, cache)
    a_next, a_prev, xt, p = cache["a_next"], cache["a_prev"], cache["xt"], cache["params"]
    # g1'(z) from the cached a_next, so z itself need not be kept.
    if cache["g1"] == "tanh":
        dz = da_next * (1.0 - a_next**2)  # tanh'(z) = 1 - tanh(z)^2
    else:
        dz = da_next * (a_next > 0)  # ReLU'(z) is 1 where z > 0, else 0
    return {
        "dxt": p["Wax"].T @ dz,
        "da_prev": p["Waa"].T @ dz,
        "dWax": dz @ xt.T,
        "dWaa": dz @ a_prev.T,
        "dba": dz.sum(axis=1, keepdims=True),  # ba is added to every example
    }


def rnn_backward(da, caches):
    """Backpropagation through time for the recurrent part of the network.

    ``da (n_a, m, T_x)``: the gradient of the cost with respect to each hidden
    state through the output layer only; ``caches``: what :func:`rnn_forward`
    returned. Returns a dict of ``dx (n_x, m, T_x)``, ``da0 (n_a, m)``,
    ``dWax (n_a, n_x)``, ``dWaa (n_a, n_a)`` and ``dba (n_a, 1)``.
    """
    da, step_caches, x = _check_backward_inputs(da, caches)
    n_x, m, T_x = x.shape
    p = step_caches[0]["params"]
    dtype = np.result_type(da, x, *p.values())
    dx = np.zeros((n_x, m, T_x), dtype=dtype)
    grads = {k: np.zeros_like(p[k[1:]], dtype=dtype) for k in ("dWax", "dWaa", "dba")}
    da_prev = np.zeros(da.shape[:2], dtype=dtype)
    for t in reversed(range(T_x)):
        # a^<t> feeds this step's output (da) and the next step (da_prev).
        step = rnn_cell_backward(da[:, :, t] + da_prev, step_caches[t], check=False)
        dx[:, :, t] = step["dxt"]
        da_prev = step["da_prev"]
        for k in grads:
            grads[k] += step[k]  # every step uses the same weights: sum their gradients
    return {"dx": dx, "da0": da_prev, **grads}


def rnn_loss_and_grads(x, y, a0, params, g1="tanh", g2="softmax", mask=None):
    """The cost of a whole RNN on a batch, and its gradients: :func:`rnn_forward`,
    then :func:`cross_entropy` (softmax) or :func:`binary_cross_entropy`
    (sigmoid), then :func:`rnn_backward`. For both pairings the gradient at the
    output pre-activation is ``y_hat - y`` (for softmax ``y_hat * sum_k y_k - y``,
    the same when each ``y`` column is one-hot), times the mask.

    ``x (n_x, m, T_x)``, ``y (n_y, m, T_x)``, ``a0 (n_a, m)``, ``params``,
    ``g1``, ``g2``; ``mask`` optional ``(m, T_x)``, 0 at padding. Returns ``J``
    (a float), ``grads`` (``dWaa``, ``dWax``, ``dWya``, ``dba``, ``dby``, ``da0``,
    each of the shape of what it differentiates) and ``a_last (n_a, m)``, the
    final state, to carry into the next chunk of a long text (truncated BPTT).
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
        J = cross_entropy_from_logits(logits, y, mask)
        dlogits = (y_hat * y.sum(axis=0) - y) * mask
    else:
        # -log(sigmoid(z)) = log(1 + e^-z) and -log(1 - sigmoid(z)) = log(1 + e^z)
        per_step = np.sum(y * np.logaddexp(0, -logits) + (1 - y) * np.logaddexp(0, logits), axis=0)
        J = float(np.sum(per_step * mask))
        dlogits = (y_hat - y) * mask
    grads = rnn_backward(np.einsum("ya,ymt->amt", p["Wya"], dlogits), caches)
    grads["dWya"] = np.einsum("ymt,amt->ya", dlogits, a)
    grads["dby"] = dlogits.sum(axis=(1, 2))[:, np.newaxis]
    return J, {k: grads[k] for k in ("dWaa", "dWax", "dWya", "dba", "dby", "da0")}, a[:, :, -1]


def grad_check(loss_fn, inputs, grads, eps=1e-5):
    """Compare analytic gradients with centred finite differences: each entry
    of each array in ``inputs`` is nudged by ``+eps`` and ``-eps`` in turn, and
    ``(J(+) - J(-)) / (2 eps)`` estimates the derivative.

    ``loss_fn()`` returns the cost, reading the arrays of ``inputs``, a dict of
    float64 arrays (in float32 the rounding error of ``J`` swamps the difference)
    changed in place and restored. ``grads`` holds an array of the same shape
    for each name, under the same name or with a ``d`` in front (``"dWaa"``).
    Returns a dict name -> ``|g - n| / (|g| + |n|)``, with the norms of the
    whole analytic and numerical arrays (0 when both are 0); below about 1e-7
    the gradient is right.
    """
    analytic_grads = _check_grad_check_inputs(loss_fn, inputs, grads, eps)
    errors = {}
    for name, arr in inputs.items():
        analytic = analytic_grads[name]
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


def clip_gradients(grads, max_value=None, max_norm=None, inplace=False):
    """Limit the size of gradients, returning new arrays (same names, shapes).

    ``max_value`` clips every entry to ``[-max_value, max_value]`` (this can
    change the gradient's direction). ``max_norm`` then rescales all arrays
    together so that their joint Euclidean norm is at most ``max_norm`` (this
    keeps the direction). Either, both or neither may be given.
    ``inplace=True`` changes the float arrays given instead, without scanning
    them for NaN (the fast trainer clips its one flat gradient buffer so).
    """
    grads = _check_clip_inputs(grads, max_value, max_norm, inplace)
    out = grads if inplace else {k: v.copy() for k, v in grads.items()}
    if max_value is not None:
        for v in out.values():
            np.clip(v, -max_value, max_value, out=v)
    if max_norm is not None:
        norm = np.sqrt(sum(float(np.vdot(v, v)) for v in out.values()))  # vdot: sum of the squares
        if norm > max_norm:
            for v in out.values():
                v *= max_norm / norm
    return out


# ---------------------------------------------------------------------------
# notebook 5: training and sampling — optimizer updates, sampling
# ---------------------------------------------------------------------------
#
# Each update takes one parameter array, its gradient and the optimizer's
# state, and returns the new parameter and state. By default it is pure: the
# arrays given stay unchanged. With inplace=True it writes into them (param,
# the state's arrays, and the step count state["t"] in the dict) and returns
# those same objects, copying nothing; a work array of param's shape given as
# work= is reused as scratch, so that nothing is allocated either: the fast
# trainer calls adam_update(flat, gflat, state, lr, inplace=True, work=scratch)
# on the one flat float32 buffer of all its parameters, every step. Both paths run the same lines, so they
# give the same numbers. For a dict, keep a state per array:
#     params[k], states[k] = adam_update(params[k], grads["d" + k], states[k], lr)
# Values are not scanned for NaN (a pass over every array at every step).


def sgd_update(param, grad, lr, inplace=False):
    """Gradient descent: ``param - lr * grad``. SGD keeps no state.

    ``param``, ``grad``: float arrays of one shape; ``lr > 0``. Returns the new
    parameter (``param`` itself when ``inplace=True``).
    """
    _check_update_inputs(param, grad, lr=lr)
    if not inplace:
        param = param.copy()
    param -= lr * grad
    return param


def init_adagrad_state(param):
    """Adagrad's starting state for ``param``: ``{"s": zeros}`` of its shape and dtype."""
    return {"s": np.zeros_like(_check_float_array("param", param))}


def adagrad_update(param, grad, state, lr, eps=1e-8, inplace=False, work=None):
    """Adagrad: ``s += grad**2``, then ``param -= lr * grad / (sqrt(s) + eps)``.
    Each entry's step shrinks as its squared gradients add up; the first step is
    ``lr * grad / (|grad| + eps)``, about ``lr``. ``param``, ``grad``: float
    arrays of one shape; ``state``: ``{"s"}`` of that shape (start with
    :func:`init_adagrad_state`). Returns ``(param, state)``."""
    _check_update_inputs(param, grad, state, ("s",), work, lr=lr, eps=eps)
    if not inplace:
        param, state = param.copy(), {"s": state["s"].copy()}
    s, w = state["s"], np.empty_like(param) if work is None else work
    np.square(grad, out=w)
    s += w
    # param -= lr * grad / (sqrt(s) + eps), built in the work array
    np.sqrt(s, out=w)
    w += eps
    np.divide(grad, w, out=w)
    w *= lr
    param -= w
    return param, state


def init_adam_state(param):
    """Adam's starting state for ``param``: ``{"m": zeros, "v": zeros, "t": 0}``,
    the arrays of its shape and dtype."""
    param = _check_float_array("param", param)
    return {"m": np.zeros_like(param), "v": np.zeros_like(param), "t": 0}


def adam_update(param, grad, state, lr, beta1=0.9, beta2=0.999, eps=1e-8, inplace=False, work=None):
    """Adam: a step along a running mean ``m`` of the gradient, each entry
    divided by the root of a running mean ``v`` of its square::

        m = beta1 m + (1 - beta1) grad;  v = beta2 v + (1 - beta2) grad**2;  t += 1
        lr_t = lr * sqrt(1 - beta2**t) / (1 - beta1**t)
        param -= lr_t * m / (sqrt(v) + eps)

    ``m`` and ``v`` start at zero, too small early on by ``1 - beta1**t`` and
    ``1 - beta2**t``; ``lr_t`` corrects both, so the first step is about
    ``lr * sign(grad)``. ``param``, ``grad``: float arrays of one shape;
    ``state``: ``{"m", "v"}`` of that shape and the step count ``"t"`` (start
    with :func:`init_adam_state`). Returns ``(param, state)``."""
    _check_update_inputs(param, grad, state, ("m", "v", "t"), work, lr=lr, beta1=beta1, beta2=beta2, eps=eps)
    if not inplace:
        param, state = param.copy(), {"m": state["m"].copy(), "v": state["v"].copy(), "t": state["t"]}
    m, v, w = state["m"], state["v"], np.empty_like(param) if work is None else work
    m *= beta1
    np.multiply(grad, 1 - beta1, out=w)
    m += w  # m = beta1 m + (1 - beta1) grad
    v *= beta2
    np.square(grad, out=w)
    w *= 1 - beta2
    v += w  # v = beta2 v + (1 - beta2) grad**2
    t = state["t"] = state["t"] + 1
    lr_t = lr * np.sqrt(1 - beta2**t) / (1 - beta1**t)
    # param -= lr_t * m / (sqrt(v) + eps), built in the work array
    np.sqrt(v, out=w)
    w += eps
    np.divide(m, w, out=w)
    w *= lr_t
    param -= w
    return param, state


def sample(params, n_chars, rng, temperature=1.0, a0=None, first_id=None, g1="tanh"):
    """Draw ``n_chars`` ids, one at a time, each read back as the next input;
    returns them as a list of ints. ``params`` needs ``n_x == n_y``.

    Each step runs :func:`rnn_cell_forward` (``m = 1``, softmax outputs
    ``softmax(z)``) and draws from ``softmax(z / temperature)`` with ``rng``, a
    ``numpy.random.Generator``: below 1 sharpens, above 1 flattens, 0 takes the
    most likely id (greedy). The first step starts from ``a0 (n_a, 1)`` (zeros
    if None) and reads ``one_hot(first_id)``, or the all-zero vector if
    ``first_id`` is None. To continue a text, run :func:`rnn_forward` over all
    but its last id, then pass ``a0 = a[:, :, -1]`` and ``first_id`` = that id.
    """
    params, a, x = _check_sample_inputs(params, n_chars, rng, temperature, a0, first_id, g1)
    ids = []
    for _ in range(n_chars):
        a, y, _ = rnn_cell_forward(x, a, params, g1, "softmax", check=False)
        i = _draw_id(y[:, 0], rng, temperature)
        ids.append(i)
        x = np.zeros_like(x)
        x[i] = 1.0  # the drawn id is the next step's input
    return ids


def _draw_id(probs, rng, temperature=1.0):
    """One draw of :func:`sample`: an id from ``softmax(z / temperature)``, given
    ``probs = softmax(z)`` of shape ``(n_y,)``; ``temperature`` 0 is the argmax."""
    p = np.asarray(probs, dtype=np.float64)
    if temperature == 0:
        return int(np.argmax(p))
    # softmax(z / T) is p ** (1 / T), normalised (the constant that softmax
    # subtracts from z drops out). Dividing by max(p) first keeps the powers
    # from underflowing to all zeros.
    p = (p / p.max()) ** (1.0 / temperature)
    return int(rng.choice(len(p), p=p / p.sum()))


# ---------------------------------------------------------------------------
# notebook 6: gated cells — the GRU and the LSTM
# ---------------------------------------------------------------------------
#
# Both cells read the concatenation [a_prev; xt] (the previous state on top:
# c_prev for the GRU, whose state is c as in the notes), so
# every gate weight is (n_a, n_a + n_x) and every bias (n_a, 1); a gate
# Γ = sigmoid(W [a_prev; xt] + b) is a number in (0, 1) per unit and example
# that decides how much of something passes. The output layer is
# yt_hat = softmax(Wy h + by) with h the hidden state (c for the GRU, a for the
# LSTM). Caches are (list of step caches, x), as for rnn_forward.


def _init_gated(gates, n_x, n_a, n_y, rng, scale, dtype):
    """Weights ``W<g> (n_a, n_a + n_x)`` normal with standard deviation
    ``scale``, zero biases ``b<g> (n_a, 1)``, for each gate letter in ``gates``,
    then ``Wy (n_y, n_a)`` and ``by (n_y, 1)``."""
    _check_init_args(n_x, n_a, n_y, rng, scale, dtype)
    params = {}
    for g in gates:
        params["W" + g] = (scale * rng.standard_normal((n_a, n_a + n_x))).astype(dtype)
        params["b" + g] = np.zeros((n_a, 1), dtype=dtype)
    params["Wy"] = (scale * rng.standard_normal((n_y, n_a))).astype(dtype)
    params["by"] = np.zeros((n_y, 1), dtype=dtype)
    return params


def init_gru_params(n_x, n_a, n_y, rng, scale=0.01, dtype=np.float64):
    """Random GRU weights and zero biases, as :func:`init_params` makes them for
    the RNN: ``Wu, Wr, Wc (n_a, n_a + n_x)``, ``bu, br, bc (n_a, 1)``,
    ``Wy (n_y, n_a)``, ``by (n_y, 1)``, all ``dtype``."""
    return _init_gated("urc", n_x, n_a, n_y, rng, scale, dtype)


def init_lstm_params(n_x, n_a, n_y, rng, scale=0.01, dtype=np.float64, forget_bias=1.0):
    """Random LSTM weights ``Wf, Wi, Wc, Wo (n_a, n_a + n_x)`` and
    ``Wy (n_y, n_a)``; biases ``bi, bc, bo (n_a, 1)`` and ``by (n_y, 1)`` zero.
    The forget bias ``bf`` starts at ``forget_bias`` (1 by default, so that
    Γ_f = sigmoid(1) ≈ 0.73 and the cell keeps most of its memory from the
    first step; with 0 it would halve the memory at every step)."""
    _check_number("forget_bias", forget_bias, "a finite number", lambda v: True)
    params = _init_gated("fico", n_x, n_a, n_y, rng, scale, dtype)
    params["bf"] += forget_bias
    return params


def gru_cell_forward(xt, c_prev, params, *, check=True):
    """One GRU step. ``xt (n_x, m)``, ``c_prev (n_a, m)``; ``params`` as
    :func:`init_gru_params` makes them. Returns ``c_next (n_a, m)``,
    ``yt_hat (n_y, m)`` and the cache for :func:`gru_cell_backward`.
    ``check=False`` skips the input checks (:func:`gru_forward` checks once)."""
    if check:
        xt, (c_prev,), params = _check_gated_inputs("urc", params, "xt", xt, c_prev=c_prev)
    p = params
    concat = np.concatenate([c_prev, xt])
    gr = sigmoid(p["Wr"] @ concat + p["br"])  # relevance: how much of c_prev the candidate sees
    gu = sigmoid(p["Wu"] @ concat + p["bu"])  # update: how much of the candidate replaces c_prev
    concat_r = np.concatenate([gr * c_prev, xt])
    cc = np.tanh(p["Wc"] @ concat_r + p["bc"])
    c_next = gu * cc + (1 - gu) * c_prev
    yt_hat = softmax(p["Wy"] @ c_next + p["by"])
    cache = {"c_prev": c_prev, "xt": xt, "gr": gr, "gu": gu, "cc": cc, "concat": concat}
    cache.update(concat_r=concat_r, c_next=c_next, params=p)
    return c_next, yt_hat, cache


def gru_forward(x, c0, params):
    """The GRU over whole sequences. ``x (n_x, m, T_x)``, ``c0 (n_a, m)``.
    Returns ``c (n_a, m, T_x)`` (``c[:, :, t]`` = ``c^{<t+1>}``),
    ``y_hat (n_y, m, T_x)`` and ``caches``, the pair (step caches, ``x``)."""
    x, (c0,), p = _check_gated_inputs("urc", params, "x", x, c0=c0)
    (_, m, T_x), n_a, n_y = x.shape, c0.shape[0], p["Wy"].shape[0]
    dtype = np.result_type(x, c0, *p.values())
    c, y_hat, caches = np.zeros((n_a, m, T_x), dtype), np.zeros((n_y, m, T_x), dtype), []
    c_prev = c0
    for t in range(T_x):
        c_prev, y_hat[:, :, t], cache = gru_cell_forward(x[:, :, t], c_prev, p, check=False)
        c[:, :, t] = c_prev
        caches.append(cache)
    return c, y_hat, (caches, x)


def gru_cell_backward(dc_next, cache):
    """Gradients of one GRU step, given ``dc_next (n_a, m)``, everything that
    reaches ``c_next``. Returns ``dxt (n_x, m)``, ``dc_prev (n_a, m)``,
    ``dWu, dWr, dWc (n_a, n_a + n_x)`` and ``dbu, dbr, dbc (n_a, 1)``."""
    (dc_next,) = _check_gated_grads("gru", cache, dc_next=dc_next)
    p, c_prev, gr, gu, cc = cache["params"], cache["c_prev"], cache["gr"], cache["gu"], cache["cc"]
    n_a = c_prev.shape[0]
    # c_next = gu * cc + (1 - gu) * c_prev: three paths, one per term.
    dzc = dc_next * gu * (1 - cc**2)
    dzu = dc_next * (cc - c_prev) * gu * (1 - gu)
    dc_prev = dc_next * (1 - gu)
    d_concat_r = p["Wc"].T @ dzc  # gradient of [gr * c_prev; xt]
    dzr = d_concat_r[:n_a] * c_prev * gr * (1 - gr)
    dc_prev = dc_prev + d_concat_r[:n_a] * gr
    d_concat = p["Wu"].T @ dzu + p["Wr"].T @ dzr  # gradient of [c_prev; xt] through the gates
    grads = {"dxt": d_concat_r[n_a:] + d_concat[n_a:], "dc_prev": dc_prev + d_concat[:n_a]}
    for g, dz in (("u", dzu), ("r", dzr), ("c", dzc)):
        inp = cache["concat_r" if g == "c" else "concat"]
        grads["dW" + g], grads["db" + g] = dz @ inp.T, dz.sum(axis=1, keepdims=True)
    return grads


def gru_backward(dc, caches):
    """Backpropagation through time for the GRU. ``dc (n_a, m, T_x)``: the
    gradient reaching each ``c^{<t>}`` from outside (the output layer); the
    recurrent path is added here. Returns ``dx (n_x, m, T_x)``,
    ``dc0 (n_a, m)``, ``dWu, dWr, dWc (n_a, n_a + n_x)``, ``dbu, dbr, dbc (n_a, 1)``."""
    (dc,), (step_caches, x) = _check_gated_grads("gru", caches, dc=dc), caches
    grads, dx = None, np.zeros(x.shape, dtype=np.result_type(dc, x))
    dc_prev = np.zeros(dc.shape[:2], dtype=dx.dtype)
    for t in reversed(range(x.shape[2])):
        step = gru_cell_backward(dc[:, :, t] + dc_prev, step_caches[t])
        dx[:, :, t], dc_prev = step.pop("dxt"), step.pop("dc_prev")
        grads = step if grads is None else {k: grads[k] + step[k] for k in grads}
    return {**grads, "dx": dx, "dc0": dc_prev}


def lstm_cell_forward(xt, a_prev, c_prev, params, *, check=True):
    """One LSTM step. ``xt (n_x, m)``, ``a_prev, c_prev (n_a, m)``; ``params``
    as :func:`init_lstm_params` makes them. Returns ``a_next``, ``c_next``
    ``(n_a, m)``, ``yt_hat (n_y, m)`` and the cache for :func:`lstm_cell_backward`."""
    if check:
        xt, (a_prev, c_prev), params = _check_gated_inputs(
            "fico", params, "xt", xt, a_prev=a_prev, c_prev=c_prev
        )
    p = params
    concat = np.concatenate([a_prev, xt])
    gf = sigmoid(p["Wf"] @ concat + p["bf"])  # forget: how much of c_prev to keep
    gi = sigmoid(p["Wi"] @ concat + p["bi"])  # input: how much of the candidate to add
    cc = np.tanh(p["Wc"] @ concat + p["bc"])
    go = sigmoid(p["Wo"] @ concat + p["bo"])  # output: how much of the memory to show
    c_next = gf * c_prev + gi * cc
    a_next = go * np.tanh(c_next)
    yt_hat = softmax(p["Wy"] @ a_next + p["by"])
    cache = {"a_prev": a_prev, "c_prev": c_prev, "xt": xt, "gf": gf, "gi": gi, "cc": cc, "go": go}
    cache.update(concat=concat, a_next=a_next, c_next=c_next, params=p)
    return a_next, c_next, yt_hat, cache


def lstm_forward(x, a0, params, *, c0=None):
    """The LSTM over whole sequences. ``x (n_x, m, T_x)``, ``a0 (n_a, m)``;
    the memory starts at ``c0 (n_a, m)``, zeros if None (pass the last ``c``
    of the previous chunk to carry it on). Returns ``a (n_a, m, T_x)``,
    ``y_hat (n_y, m, T_x)``, ``c (n_a, m, T_x)`` and ``caches``."""
    x, (a0, c_start), p = _check_gated_inputs("fico", params, "x", x, a0=a0, c0=a0 if c0 is None else c0)
    c0 = np.zeros_like(a0) if c0 is None else c_start
    (_, m, T_x), n_a, n_y = x.shape, a0.shape[0], p["Wy"].shape[0]
    dtype = np.result_type(x, a0, c0, *p.values())
    a, c, y_hat = (
        np.zeros((n_a, m, T_x), dtype),
        np.zeros((n_a, m, T_x), dtype),
        np.zeros((n_y, m, T_x), dtype),
    )
    a_prev, c_prev, caches = a0, c0, []
    for t in range(T_x):
        a_prev, c_prev, y_hat[:, :, t], cache = lstm_cell_forward(x[:, :, t], a_prev, c_prev, p, check=False)
        a[:, :, t], c[:, :, t] = a_prev, c_prev
        caches.append(cache)
    return a, y_hat, c, (caches, x)


def lstm_cell_backward(da_next, dc_next, cache):
    """Gradients of one LSTM step, given everything that reaches ``a_next`` and
    ``c_next`` (``da_next``, ``dc_next``, each ``(n_a, m)``). Returns ``dxt
    (n_x, m)``, ``da_prev``, ``dc_prev (n_a, m)``, ``dWf, dWi, dWc, dWo
    (n_a, n_a + n_x)`` and ``dbf, dbi, dbc, dbo (n_a, 1)``."""
    da_next, dc_next = _check_gated_grads("lstm", cache, da_next=da_next, dc_next=dc_next)
    p, gf, gi, cc, go = cache["params"], cache["gf"], cache["gi"], cache["cc"], cache["go"]
    n_a, tanh_c = gf.shape[0], np.tanh(cache["c_next"])
    # a_next = go * tanh(c_next) sends gradient to go and, on top of dc_next, to c_next.
    dc = dc_next + da_next * go * (1 - tanh_c**2)
    dz = {
        "f": dc * cache["c_prev"] * gf * (1 - gf),
        "i": dc * cc * gi * (1 - gi),
        "c": dc * gi * (1 - cc**2),
        "o": da_next * tanh_c * go * (1 - go),
    }
    d_concat = sum(p["W" + g].T @ dz[g] for g in "fico")
    grads = {"dxt": d_concat[n_a:], "da_prev": d_concat[:n_a], "dc_prev": dc * gf}
    for g in "fico":
        grads["dW" + g], grads["db" + g] = dz[g] @ cache["concat"].T, dz[g].sum(axis=1, keepdims=True)
    return grads


def lstm_backward(da, caches):
    """Backpropagation through time for the LSTM. ``da (n_a, m, T_x)``: the
    gradient reaching each ``a^{<t>}`` from outside (the output layer); the
    recurrent paths through ``a`` and ``c`` are added here. Returns
    ``dx (n_x, m, T_x)``, ``da0 (n_a, m)``, ``dWf, dWi, dWc, dWo (n_a, n_a + n_x)``
    and ``dbf, dbi, dbc, dbo (n_a, 1)``. No gradient for ``c0``: it is zero or
    carried from the previous chunk, which truncated BPTT does not reach."""
    (da,), (step_caches, x) = _check_gated_grads("lstm", caches, da=da), caches
    grads, dx = None, np.zeros(x.shape, dtype=np.result_type(da, x))
    da_prev = dc_prev = np.zeros(da.shape[:2], dtype=dx.dtype)
    for t in reversed(range(x.shape[2])):
        step = lstm_cell_backward(da[:, :, t] + da_prev, dc_prev, step_caches[t])
        dx[:, :, t], da_prev, dc_prev = step.pop("dxt"), step.pop("da_prev"), step.pop("dc_prev")
        grads = step if grads is None else {k: grads[k] + step[k] for k in grads}
    return {**grads, "dx": dx, "da0": da_prev}


def _softmax_output_loss(h, y_hat, y, mask, p):
    """Cost of ``softmax(Wy h + by)`` against ``y`` (as :func:`rnn_loss_and_grads`),
    the gradient ``dh`` reaching ``h (n_a, m, T_x)``, and ``dWy``, ``dby``."""
    _, y, mask = _check_loss_inputs(y_hat, y, mask)
    J = cross_entropy_from_logits(np.einsum("ya,amt->ymt", p["Wy"], h) + p["by"][:, :, np.newaxis], y, mask)
    dlogits = (y_hat * y.sum(axis=0) - y) * mask
    dh = np.einsum("ya,ymt->amt", p["Wy"], dlogits)
    return J, dh, {"dWy": np.einsum("ymt,amt->ya", dlogits, h), "dby": dlogits.sum(axis=(1, 2))[:, None]}


def gru_loss_and_grads(x, y, c0, params, mask=None):
    """Cost of a GRU on a batch and its gradients, as :func:`rnn_loss_and_grads`.
    ``x (n_x, m, T_x)``, one-hot ``y (n_y, m, T_x)``, ``c0 (n_a, m)``; ``mask``
    optional ``(m, T_x)``, 0 at padding. Returns ``J`` (a float), ``grads``
    (``dWu, dbu, dWr, dbr, dWc, dbc, dWy, dby, dc0``) and ``c_last (n_a, m)``."""
    c, y_hat, caches = gru_forward(x, c0, params)
    J, dc, out_grads = _softmax_output_loss(c, y_hat, y, mask, caches[0][0]["params"])
    grads = gru_backward(dc, caches)
    del grads["dx"]
    return J, {**grads, **out_grads}, c[:, :, -1]


def lstm_loss_and_grads(x, y, a0, params, mask=None, *, c0=None):
    """Cost of an LSTM on a batch and its gradients, as :func:`rnn_loss_and_grads`.
    ``x``, ``y``, ``mask`` as in :func:`gru_loss_and_grads`; ``a0 (n_a, m)``,
    ``c0`` as in :func:`lstm_forward`. Returns ``J``, ``grads`` (``dWf, dbf,
    dWi, dbi, dWc, dbc, dWo, dbo, dWy, dby, da0``), ``a_last`` and ``c_last``
    ``(n_a, m)``: the state ``(a, c)`` to carry into the next chunk."""
    a, y_hat, c, caches = lstm_forward(x, a0, params, c0=c0)
    J, da, out_grads = _softmax_output_loss(a, y_hat, y, mask, caches[0][0]["params"])
    grads = lstm_backward(da, caches)
    del grads["dx"]
    return J, {**grads, **out_grads}, a[:, :, -1], c[:, :, -1]


# ---------------------------------------------------------------------------
# Input checks (shared by the public functions)
# ---------------------------------------------------------------------------

# The axes of each parameter, named as in the notes (used in the messages).
_PARAM_LABELS = {
    "Waa": ("n_a", "n_a"),
    "Wax": ("n_a", "n_x"),
    "Wya": ("n_y", "n_a"),
    "ba": ("n_a", "1"),
    "by": ("n_y", "1"),
}


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
    ``labels`` name the axes, so that the message reads
    ``x must have shape (n_x, m, T_x) = (27, m, T_x); got (27, 5)``."""
    if len(arr.shape) == len(expected) and all(e is None or e == s for e, s in zip(expected, arr.shape)):
        return
    symbolic = "(" + ", ".join(labels) + ")"
    concrete = "(" + ", ".join(lab if e is None else str(e) for e, lab in zip(expected, labels))
    concrete += ",)" if len(labels) == 1 else ")"
    wanted = symbolic if concrete == symbolic else f"{symbolic} = {concrete}"
    raise ValueError(f"{name} must have shape {wanted}; got {tuple(arr.shape)}")


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}; got {value!r}")


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")


def _check_number(name, value, wanted, ok):
    """Check that ``value`` is a finite real number for which ``ok(value)`` holds."""
    real = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not (real and np.isfinite(value) and ok(value)):
        raise ValueError(f"{name} must be {wanted}; got {value!r}")


def _check_one_hot_inputs(ids, n):
    """Return ``ids`` as int64, each in ``[0, n)``."""
    _check_positive_int("n", n)
    ids = np.asarray(ids)
    if ids.size and not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"ids must be integers; got dtype {ids.dtype}")
    ids = ids.astype(np.int64)
    bad = ids[(ids < 0) | (ids >= n)]
    if bad.size:
        raise ValueError(f"ids must lie in [0, n) = [0, {n}); got {sorted(set(bad.tolist()))}")
    return ids


def _check_sequences(sequences, n_x):
    """Returns the sequences and their lengths; :func:`one_hot` checks the ids."""
    _check_positive_int("n_x", n_x)
    if isinstance(sequences, np.ndarray) and sequences.ndim == 2:
        sequences = list(sequences)
    if not isinstance(sequences, (list, tuple)) or not sequences:
        raise ValueError(f"sequences must be a non-empty list of id sequences; got {sequences!r:.60}")
    lengths = [len(s) for s in sequences]
    if min(lengths) < 1:
        empty = [i for i, n in enumerate(lengths) if n == 0]
        raise ValueError(f"sequences must each hold at least one id; sequence(s) {empty} are empty")
    return sequences, lengths


def _check_init_args(n_x, n_a, n_y, rng, scale, dtype):
    for name, value in (("n_x", n_x), ("n_a", n_a), ("n_y", n_y)):
        _check_positive_int(name, value)
    _check_rng(rng)
    _check_number("scale", scale, "a finite number >= 0", lambda v: v >= 0)
    if not np.issubdtype(np.dtype(dtype), np.floating):
        raise ValueError(f"dtype must be a floating-point type; got {dtype!r}")


def _check_rng(rng):
    if not isinstance(rng, np.random.Generator):
        raise ValueError(
            f"rng must be a numpy.random.Generator such as np.random.default_rng(0); got {type(rng).__name__}"
        )


def _param_arrays(params, keys):
    """Check that ``params`` is a dict holding ``keys``; return those arrays as
    finite floats (shapes are checked by the caller)."""
    if not isinstance(params, dict):
        raise ValueError(f"params must be a dict; got {type(params).__name__}")
    missing = [k for k in keys if k not in params]
    if missing:
        raise ValueError(f"params must have keys {keys}; missing {missing}")
    return {k: _as_float_array(f"params['{k}']", params[k]) for k in keys}


def _check_params(params):
    """Check the five parameter arrays for presence, finiteness and agreeing
    shapes; return ``(n_x, n_a, n_y)`` and the arrays as floats."""
    p = _param_arrays(params, list(_PARAM_LABELS))
    for k in ("Waa", "Wax", "Wya"):
        if p[k].ndim != 2:
            _check_shape(f"params['{k}']", p[k], (None, None), _PARAM_LABELS[k])
    n_a, n_y = p["Waa"].shape[0], p["Wya"].shape[0]
    n_x = p["Wax"].shape[1]
    sizes = {"n_a": n_a, "n_x": n_x, "n_y": n_y, "1": 1}
    for k, labels in _PARAM_LABELS.items():
        _check_shape(f"params['{k}']", p[k], tuple(sizes[lab] for lab in labels), labels)
    return n_x, n_a, n_y, p


def _check_cell_inputs(xt, a_prev, params, g1, g2):
    """Returns ``xt``, ``a_prev`` and the params as float arrays."""
    _check_choice("g1", g1, G1_FUNCTIONS)
    _check_choice("g2", g2, G2_FUNCTIONS)
    n_x, n_a, _, p = _check_params(params)
    xt = _as_float_array("xt", xt)
    _check_shape("xt", xt, (n_x, None), ("n_x", "m"))
    a_prev = _as_float_array("a_prev", a_prev)
    _check_shape("a_prev", a_prev, (n_a, xt.shape[1]), ("n_a", "m"))
    return xt, a_prev, p


def _check_forward_inputs(x, a0, params, g1, g2):
    """Returns ``x``, ``a0`` and the params as float arrays."""
    _check_choice("g1", g1, G1_FUNCTIONS)
    _check_choice("g2", g2, G2_FUNCTIONS)
    n_x, n_a, _, p = _check_params(params)
    x = _as_float_array("x", x)
    _check_shape("x", x, (n_x, None, None), ("n_x", "m", "T_x"))
    _, m, T_x = x.shape
    if T_x < 1:
        raise ValueError("x must have at least one time step; got T_x = 0")
    a0 = _as_float_array("a0", a0)
    _check_shape("a0", a0, (n_a, m), ("n_a", "m"))
    return x, a0, p


def _check_loss_inputs(y_hat, y, mask, name="y_hat"):
    """Shared checks of the losses: probabilities (or, with ``name="z"``,
    logits), same-shaped targets, a mask of shape ``y_hat.shape[1:]``. Returns
    the three as float arrays."""
    y_hat = _as_float_array(name, y_hat)
    if y_hat.ndim not in (2, 3):
        raise ValueError(f"{name} must have shape (n_y, m, T_y), or (n_y, m) for one step; got {y_hat.shape}")
    labels = ("n_y", "m", "T_y")[: y_hat.ndim]
    if name == "y_hat" and np.any((y_hat < 0) | (y_hat > 1)):
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


def _check_cache(name, cache):
    keys = {"a_next", "a_prev", "xt", "params", "g1"}
    if not isinstance(cache, dict) or not keys <= cache.keys():
        raise ValueError(
            f"{name} must be a cache returned by rnn_cell_forward (a dict with keys "
            f"{sorted(keys)}); got {type(cache).__name__}"
        )


def _check_cell_backward_inputs(da_next, cache):
    """Checks of :func:`rnn_cell_backward`; returns ``da_next`` as floats."""
    _check_cache("cache", cache)
    da_next = _as_float_array("da_next", da_next)
    _check_shape("da_next", da_next, cache["a_next"].shape, ("n_a", "m"))
    return da_next


def _check_backward_inputs(da, caches):
    """Returns ``da`` as floats, the step caches and ``x``."""
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
    _, m, T_x = x.shape
    n_a = step_caches[0]["a_next"].shape[0]
    da = _as_float_array("da", da)
    _check_shape("da", da, (n_a, m, T_x), ("n_a", "m", "T_x"))
    return da, step_caches, x


def _check_grad_check_inputs(loss_fn, inputs, grads, eps):
    """Checks of :func:`grad_check`; returns the analytic gradient of each input as floats."""
    if not callable(loss_fn):
        raise ValueError(f"loss_fn must be callable; got {type(loss_fn).__name__}")
    _check_number("eps", eps, "a positive finite number", lambda v: v > 0)
    analytic = {}
    for name, arr in inputs.items():
        if not isinstance(arr, np.ndarray) or arr.dtype != np.float64:
            raise ValueError(
                f"inputs[{name!r}] must be a float64 numpy array (checked in place); "
                f"got {getattr(arr, 'dtype', type(arr).__name__)}"
            )
        key = name if name in grads else "d" + name
        if key not in grads:
            raise ValueError(f"grads has no entry {name!r} or {'d' + name!r}")
        analytic[name] = _as_float_array(f"grads[{key!r}]", grads[key])
        _check_shape(f"grads[{key!r}]", analytic[name], arr.shape, tuple(str(s) for s in arr.shape))
    return analytic


def _check_clip_inputs(grads, max_value, max_norm, inplace):
    """Checks of :func:`clip_gradients`; returns the gradients as float arrays."""
    if not isinstance(grads, dict) or not grads:
        raise ValueError(f"grads must be a non-empty dict of arrays; got {grads!r:.60}")
    for name, limit in (("max_value", max_value), ("max_norm", max_norm)):
        if limit is not None:
            _check_number(name, limit, "a positive finite number or None", lambda v: v > 0)
    if inplace:
        return {k: _check_float_array(f"grads[{k!r}]", v) for k, v in grads.items()}
    return {k: _as_float_array(f"grads[{k!r}]", v) for k, v in grads.items()}


def _check_float_array(name, arr):
    """A numpy array of floats, as the updates need (they work in its dtype)."""
    if not isinstance(arr, np.ndarray) or not np.issubdtype(arr.dtype, np.floating):
        got = f"dtype {arr.dtype}" if isinstance(arr, np.ndarray) else type(arr).__name__
        raise ValueError(f"{name} must be a numpy array of floats (float32 or float64); got {got}")
    return arr


def _check_update_inputs(param, grad, state=None, state_keys=(), work=None, *, lr, eps=None, **betas):
    """Types, shapes and settings; not the values, which would cost a pass over
    every array at every step."""
    shape = _check_float_array("param", param).shape
    arrays = [("grad", grad)]
    if state_keys:
        init = "init_adam_state" if "t" in state_keys else "init_adagrad_state"
        missing = sorted(set(state_keys) - state.keys()) if isinstance(state, dict) else None
        if missing is None or missing:
            got = f"missing {missing}" if missing else f"got {type(state).__name__}"
            raise ValueError(
                f"state must be a dict with keys {sorted(state_keys)}, as {init}(param) makes; {got}"
            )
        arrays += [(f"state[{k!r}]", state[k]) for k in state_keys if k != "t"]
        t = state.get("t", 0)
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or t < 0:
            raise ValueError(f"state['t'] must be a step count, an integer >= 0; got {t!r}")
    for name, arr in arrays:
        if _check_float_array(name, arr).shape != shape:
            raise ValueError(f"{name} must have the shape of param, {shape}; got {arr.shape}")
    if work is not None and not (
        isinstance(work, np.ndarray) and work.shape == shape and work.dtype == param.dtype
    ):
        got = f"{work.dtype} {work.shape}" if isinstance(work, np.ndarray) else type(work).__name__
        raise ValueError(
            f"work must be None or an array of param's dtype and shape, {param.dtype} {shape}; got {got}"
        )
    for name, value in (("lr", lr), ("eps", eps)):
        if value is not None:
            _check_number(name, value, "a positive finite number", lambda v: v > 0)
    for name, beta in betas.items():
        _check_number(name, beta, "a number in [0, 1)", lambda b: 0 <= b < 1)


def _check_sample_inputs(params, n_chars, rng, temperature, a0, first_id, g1):
    """Returns the params as floats, the first state ``(n_a, 1)`` and input ``(n_x, 1)``."""
    _check_choice("g1", g1, G1_FUNCTIONS)
    n_x, n_a, n_y, p = _check_params(params)
    if n_x != n_y:
        raise ValueError(
            f"params must have n_x == n_y to read each drawn id back as the next input; "
            f"got n_x = {n_x}, n_y = {n_y}"
        )
    if isinstance(n_chars, bool) or not isinstance(n_chars, (int, np.integer)) or n_chars < 0:
        raise ValueError(f"n_chars must be a non-negative integer; got {n_chars!r}")
    _check_rng(rng)
    _check_number("temperature", temperature, "a finite number >= 0", lambda v: v >= 0)
    a = np.zeros((n_a, 1)) if a0 is None else _as_float_array("a0", a0)
    _check_shape("a0", a, (n_a, 1), ("n_a", "1"))
    x = np.zeros((n_x, 1))
    if first_id is not None:
        if isinstance(first_id, bool) or not isinstance(first_id, (int, np.integer)):
            raise ValueError(f"first_id must be an integer id or None; got {first_id!r}")
        if not 0 <= first_id < n_x:
            raise ValueError(f"first_id must lie in [0, n_x) = [0, {n_x}); got {first_id}")
        x[first_id] = 1.0
    return p, a, x


def _check_gated_params(gates, params):
    """Check the gated cell's parameters (gate letters ``gates``, then ``Wy``,
    ``by``) for presence, finiteness and agreeing shapes; return
    ``(n_x, n_a, n_y)`` and the arrays as floats."""
    keys = [w + g for g in gates for w in "Wb"] + ["Wy", "by"]
    p = _param_arrays(params, keys)
    W, Wy = "W" + gates[0], p["Wy"]
    _check_shape(f"params['{W}']", p[W], (None, None), ("n_a", "n_a + n_x"))
    _check_shape("params['Wy']", Wy, (None, None), ("n_y", "n_a"))
    (n_a, n_ax), n_y = p[W].shape, Wy.shape[0]
    if n_ax <= n_a:
        raise ValueError(f"params['{W}'] must have shape (n_a, n_a + n_x) with n_x >= 1; got {p[W].shape}")
    for g in gates:
        _check_shape(f"params['W{g}']", p["W" + g], (n_a, n_ax), ("n_a", "n_a + n_x"))
        _check_shape(f"params['b{g}']", p["b" + g], (n_a, 1), ("n_a", "1"))
    _check_shape("params['Wy']", Wy, (n_y, n_a), ("n_y", "n_a"))
    _check_shape("params['by']", p["by"], (n_y, 1), ("n_y", "1"))
    return n_ax - n_a, n_a, n_y, p


def _check_gated_inputs(gates, params, x_name, x, **states):
    """Checks of the gated forward functions: ``x_name`` is ``"xt"`` (one step,
    ``(n_x, m)``) or ``"x"`` (``(n_x, m, T_x)``); each state is ``(n_a, m)``.
    Returns ``x``, the tuple of states and the params, as float arrays."""
    n_x, n_a, _, p = _check_gated_params(gates, params)
    x = _as_float_array(x_name, x)
    if x_name == "xt":
        _check_shape("xt", x, (n_x, None), ("n_x", "m"))
    else:
        _check_shape("x", x, (n_x, None, None), ("n_x", "m", "T_x"))
        if x.shape[2] < 1:
            raise ValueError("x must have at least one time step; got T_x = 0")
    arrays = tuple(_as_float_array(name, s) for name, s in states.items())
    for name, s in zip(states, arrays):
        _check_shape(name, s, (n_a, x.shape[1]), ("n_a", "m"))
    return x, arrays, p


# A key that only the cache of each gated cell has.
_GATED_CACHE_KEY = {"gru": "gr", "lstm": "gf"}


def _check_gated_grads(cell, caches, **grads):
    """Checks of the gated backward functions: ``caches`` is one step's cache
    (gradients ``(n_a, m)``) or what the forward pass returned (gradients
    ``(n_a, m, T_x)``). Returns the gradients as float arrays."""
    one = isinstance(caches, dict)
    pair = isinstance(caches, tuple) and len(caches) == 2 and isinstance(caches[0], list)
    steps = [caches] if one else caches[0] if pair else []
    if not (steps and all(isinstance(c, dict) and _GATED_CACHE_KEY[cell] in c for c in steps)):
        name, made_by = ("cache", f"{cell}_cell_forward") if one else ("caches", f"{cell}_forward")
        raise ValueError(f"{name} must be what {made_by} returned; got {type(caches).__name__}")
    if one:
        shape, labels = caches["c_prev"].shape, ("n_a", "m")
    else:
        shape, labels = caches[0][0]["c_prev"].shape + caches[1].shape[2:], ("n_a", "m", "T_x")
    arrays = [_as_float_array(name, g) for name, g in grads.items()]
    for name, g in zip(grads, arrays):
        _check_shape(name, g, shape, labels)
    return arrays
