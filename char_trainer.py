"""The course's fast character-model trainer, beside the teaching code.

``rnn_utils`` holds what the notebooks teach, written for reading. This module
trains the same models (a tanh RNN, a GRU or an LSTM, with softmax outputs
over characters) fast, and holds everything that serves that: flat parameter
buffers, the fused minibatch steps, the thread split, :class:`CharModel` (a
trained model with its vocabulary), saving and loading, progress reports and
the command line::

    python -m char_trainer train data/shakespeare.txt --seconds 300 --save model.npz
    python -m char_trainer sample model.npz --n 500 --temperature 0.8

Its fused kernels compute the teaching functions' maths in another layout;
``tests/test_char_model.py`` checks the RNN's against ``rnn_utils.rnn_loss_and_grads``
and ``tests/test_gated_trainer.py`` the GRU's and the LSTM's against
``gru_loss_and_grads`` and ``lstm_loss_and_grads``, in float64.
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
    _check_number,
    _check_params,
    _check_positive_int,
    _check_shape,
    _draw_id,
    adagrad_update,
    adam_update,
    clip_gradients,
    cross_entropy_from_logits,
    gru_forward,
    init_params,
    lstm_forward,
    one_hot,
    rnn_forward,
    sample,
    sgd_update,
)

__all__ = [
    "CELLS",
    "fast_loss_and_grads",
    "CharModel",
    "load_char_model",
    "ModelFileError",
    "check_save_path",
    "TrainingDiverged",
    "EXPLODING_LOSS_FACTOR",
    "default_threads",
    "default_blas_threads",
    "cut_streams",
    "train_char_model",
    "main",
]


# ---------------------------------------------------------------------------
# A character-level language model: fast minibatch training, sampling, files
# ---------------------------------------------------------------------------
#
# rnn_utils follows the notation literally: one-hot inputs, columns as
# examples, one cache per step. Training wants speed, so the trainer below
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


CELLS = ("rnn", "gru", "lstm")
"""The recurrent cells the trainer knows: the course's tanh RNN, the GRU and the LSTM."""

# The gates of each gated cell, in the order of the course's parameter names
# (rnn_utils: Wu, bu, Wr, br, Wc, bc for the GRU; Wf, bf, Wi, bi, Wc, bc, Wo,
# bo for the LSTM), and where each one sits in the fast layout: the suffix of
# its fused arrays and its block of n_a columns there.
_GATES = {"gru": "urc", "lstm": "fico"}
_BLOCKS = {
    "gru": {"u": ("_ur", 0), "r": ("_ur", 1), "c": ("_c", 0)},
    "lstm": {"f": ("", 0), "i": ("", 1), "o": ("", 2), "c": ("", 3)},
}


def _check_cell(cell):
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {', '.join(repr(c) for c in CELLS)}; got {cell!r}")
    return cell


def _course_labels(cell):
    """The course's parameter names for ``cell``, each with its axes."""
    if cell == "rnn":
        return _PARAM_LABELS
    labels = {}
    for g in _GATES[cell]:
        labels["W" + g], labels["b" + g] = ("n_a", "n_a + n_x"), ("n_a", "1")
    labels["Wy"], labels["by"] = ("n_y", "n_a"), ("n_y", "1")
    return labels


def _state_size(cell, n_a):
    """Width of the state carried between chunks: a (RNN), c (GRU), [a | c] (LSTM)."""
    return 2 * n_a if cell == "lstm" else n_a


def _flat_shapes(n_x, n_a, cell="rnn"):
    if cell == "gru":
        return _gru_shapes(n_x, n_a)
    if cell == "lstm":
        return _lstm_shapes(n_x, n_a)
    return {"WaxT": (n_x, n_a), "WaaT": (n_a, n_a), "ba": (n_a,), "WyaT": (n_a, n_x), "by": (n_x,)}


def _flat_views(flat, n_x, n_a, cell="rnn"):
    """Split one flat buffer into named parameter views (no copies)."""
    views, offset = {}, 0
    for name, shape in _flat_shapes(n_x, n_a, cell).items():
        size = int(np.prod(shape))
        views[name] = flat[offset : offset + size].reshape(shape)
        offset += size
    return views


def _flat_size(n_x, n_a, cell="rnn"):
    return sum(int(np.prod(s)) for s in _flat_shapes(n_x, n_a, cell).values())


def _to_course_layout(P, cell="rnn"):
    """Fast (transposed) parameters -> the course's dict of fresh arrays."""
    if cell != "rnn":
        n_a, out = P["WyT"].shape[0], {}
        for g in _GATES[cell]:
            suffix, k = _BLOCKS[cell][g]
            cols = slice(k * n_a, (k + 1) * n_a)
            out["W" + g] = np.concatenate(
                [P["WhT" + suffix][:, cols].T, P["WxT" + suffix][:, cols].T], axis=1
            )
            out["b" + g] = P["b" + suffix][cols][:, np.newaxis].copy()
        out["Wy"], out["by"] = P["WyT"].T.copy(), P["by"][:, np.newaxis].copy()
        return out
    return {
        "Waa": P["WaaT"].T.copy(),
        "Wax": P["WaxT"].T.copy(),
        "Wya": P["WyaT"].T.copy(),
        "ba": P["ba"][:, np.newaxis].copy(),
        "by": P["by"][:, np.newaxis].copy(),
    }


def _from_course_layout(params, P, cell="rnn"):
    """Copy the course's parameters into fast views ``P``."""
    if cell != "rnn":
        n_a = P["WyT"].shape[0]
        for g in _GATES[cell]:
            suffix, k = _BLOCKS[cell][g]
            cols = slice(k * n_a, (k + 1) * n_a)
            P["WhT" + suffix][:, cols] = params["W" + g][:, :n_a].T
            P["WxT" + suffix][:, cols] = params["W" + g][:, n_a:].T
            P["b" + suffix][cols] = params["b" + g][:, 0]
        P["WyT"][...] = params["Wy"].T
        P["by"][...] = params["by"][:, 0]
        return
    P["WaaT"][...] = params["Waa"].T
    P["WaxT"][...] = params["Wax"].T
    P["WyaT"][...] = params["Wya"].T
    P["ba"][...] = params["ba"][:, 0]
    P["by"][...] = params["by"][:, 0]


def _check_cell_params(cell, params):
    """Check a cell's parameters (names, finiteness, agreeing shapes); return
    ``(n_x, n_a, n_y)`` and the arrays as floats."""
    if cell == "rnn":
        return _check_params(params)
    labels = _course_labels(cell)
    if not isinstance(params, dict):
        raise ValueError(f"params must be a dict; got {type(params).__name__}")
    missing = [k for k in labels if k not in params]
    if missing:
        article = "an" if cell == "lstm" else "a"
        raise ValueError(
            f"params of {article} {cell.upper()} must have keys {list(labels)}; missing {missing}"
        )
    p = {k: _as_float_array(f"params['{k}']", params[k]) for k in labels}
    _check_shape("params['Wy']", p["Wy"], (None, None), labels["Wy"])
    n_y, n_a = p["Wy"].shape
    first = "W" + _GATES[cell][0]
    _check_shape(f"params['{first}']", p[first], (n_a, None), labels[first])
    n_x = p[first].shape[1] - n_a
    if n_x < 1:
        raise ValueError(
            f"params['{first}'] must have shape (n_a, n_a + n_x) with n_x >= 1; got {p[first].shape}"
        )
    sizes = {"n_a": n_a, "n_x": n_x, "n_y": n_y, "1": 1, "n_a + n_x": n_a + n_x}
    for k, axes in labels.items():
        _check_shape(f"params['{k}']", p[k], tuple(sizes[lab] for lab in axes), axes)
    return n_x, n_a, n_y, p


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


def _softmax_head(WyT, by, dWyT, dby, Hs, Y, ws, dHs):
    """Output layer and softmax cross-entropy of a chunk, shared by every
    cell: returns the mean loss over the ``n = T m`` rows of ``Hs (n, n_a)``
    and writes ``dWyT``, ``dby`` and ``dHs (n, n_a)``, the gradient reaching
    each state. dlogits = (softmax - one_hot(target)) / n, in place."""
    L = ws.logits
    n = L.shape[0]
    np.matmul(Hs, WyT, out=L)
    L += by
    L -= L.max(axis=1, keepdims=True)
    targets = Y.reshape(-1)
    target_logits = L[ws.rows, targets]
    np.exp(L, out=L)
    sums = L.sum(axis=1)
    loss = float(np.mean(np.log(sums), dtype=np.float64) - np.mean(target_logits, dtype=np.float64))
    L /= sums[:, np.newaxis]
    L[ws.rows, targets] -= 1
    L *= 1.0 / n
    np.matmul(Hs.T, L, out=dWyT)
    L.sum(axis=0, out=dby)
    np.matmul(L, WyT.T, out=dHs)
    return loss


def _input_grads(ws, X, dZ2d, dWxT):
    """dWxT = one_hot(X)^T @ dZ: the gradient of the gathered rows."""
    oh = ws.one_hot
    oh[...] = 0
    oh[ws.rows, X.reshape(-1)] = 1
    np.matmul(oh.T, dZ2d, out=dWxT)


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
    H, XW, dH = ws.H, ws.XW, ws.dH
    n_a = H.shape[2]
    H[0] = h0
    # Forward. Input lookups for all steps at once; only the recurrence loops.
    # mode="clip": the ids are checked where they come in, and under the default
    # mode="raise" numpy fills `out` through a temporary copy (many times slower).
    np.take(P["WaxT"], X, axis=0, out=XW, mode="clip")
    XW += P["ba"]
    WaaT = P["WaaT"]
    for t in range(T):
        h = H[t + 1]
        np.matmul(H[t], WaaT, out=h)
        h += XW[t]
        np.tanh(h, out=h)
    Hs = H[1:].reshape(T * m, n_a)
    dHs = dH.reshape(T * m, n_a)
    loss = _softmax_head(P["WyaT"], P["by"], G["WyaT"], G["by"], Hs, Y, ws, dHs)
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
    _input_grads(ws, X, dHs, G["WaxT"])
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


def fast_loss_and_grads(params, x_ids, y_ids, a0, *, cell="rnn", c0=None):
    """The trainer's fast kernel, in the course's layout: softmax outputs,
    one-hot inputs given as ids, and a tanh RNN, a GRU or an LSTM.

    Equal, up to rounding, to ``rnn_loss_and_grads(one_hot(x_ids), one_hot(y_ids),
    a0, params)`` divided by the number of characters ``m * T_x`` (for
    ``cell="gru"``, ``gru_loss_and_grads``; for ``cell="lstm"``,
    ``lstm_loss_and_grads(..., c0=c0)``), without the gradient of the
    initial state.

    Args:
        params: for the RNN, a dict with ``Waa (n_a, n_a)``, ``Wax (n_a, n_x)``,
            ``Wya (n_x, n_a)``, ``ba (n_a, 1)``, ``by (n_x, 1)`` (outputs and
            inputs share the vocabulary, so ``n_y = n_x``); for the GRU and the
            LSTM, as ``rnn_utils.init_gru_params`` and ``init_lstm_params``
            make them.
        x_ids: input ids ``(m, T_x)``.
        y_ids: target ids ``(m, T_x)``, usually ``x_ids`` shifted by one.
        a0: initial state ``(n_a, m)``: ``a<0>`` (for the GRU, ``c<0>``).
        cell: ``"rnn"``, ``"gru"`` or ``"lstm"``.
        c0: the LSTM's initial memory ``(n_a, m)``; zeros if None.

    Returns:
        J: mean loss in nats per character.
        grads: ``"d" +`` each parameter's name, of the mean loss, course layout.
        a_last: ``(n_a, m)`` (for the GRU, ``c_last``); for the LSTM, also
            ``c_last (n_a, m)``.
    """
    _check_cell(cell)
    n_x, n_a, n_y, p = _check_cell_params(cell, params)
    if n_y != n_x:
        out = "Wya" if cell == "rnn" else "Wy"
        raise ValueError(
            f"params['{out}'] must have shape (n_x, n_a) = ({n_x}, {n_a}) for a language model; got {p[out].shape}"
        )
    x_ids = _check_ids("x_ids", x_ids, n_x)
    y_ids = _check_ids("y_ids", y_ids, n_x)
    _check_shape("y_ids", y_ids, x_ids.shape, ("m", "T_x"))
    m, T = x_ids.shape
    a0 = _as_float_array("a0", a0)
    _check_shape("a0", a0, (n_a, m), ("n_a", "m"))
    h0 = a0
    if cell == "lstm":
        c0 = np.zeros_like(a0) if c0 is None else _as_float_array("c0", c0)
        _check_shape("c0", c0, (n_a, m), ("n_a", "m"))
        h0 = np.concatenate([a0, c0])
    elif c0 is not None:
        raise ValueError(f"c0 is the LSTM's initial memory; a {cell.upper()} takes only a0; got c0")
    dtype = np.result_type(h0, *p.values())
    size = _flat_size(n_x, n_a, cell)
    flat, gflat = np.zeros(size, dtype), np.zeros(size, dtype)
    P, G = _flat_views(flat, n_x, n_a, cell), _flat_views(gflat, n_x, n_a, cell)
    _from_course_layout(p, P, cell)
    step, workspace = _STEPS[cell]
    J, h_last = step(P, G, x_ids.T, y_ids.T, np.ascontiguousarray(h0.T), workspace(n_x, n_a, T, m, dtype))
    grads = {"d" + k: v for k, v in _to_course_layout(G, cell).items()}
    if cell == "lstm":
        return J, grads, h_last[:, :n_a].T.copy(), h_last[:, n_a:].T.copy()
    return J, grads, h_last.T.copy()


# ---------------------------------------------------------------------------
# Gated cells (GRU and LSTM) in the fast layout
# ---------------------------------------------------------------------------
#
# The same design as _fast_step: time-major rows, transposed weights in one
# flat buffer, the input as a row gather, the output layer and every weight
# gradient done once for the whole chunk, only the recurrence in Python. The
# gates that share an input share one matrix product:
#
# - LSTM: the gates [f | i | o | c~] side by side, so one step is ONE product
#   a<t-1> @ WhT (n_a, 4 n_a) forward and ONE product dz @ WhT.T backward.
# - GRU (the course's form, the reset gate applied to c<t-1> before its
#   product): [u | r] in one product c<t-1> @ WhT_ur (n_a, 2 n_a), then
#   (r * c<t-1>) @ WhT_c, which needs r first: two products per step, each way.
#
# sigma(z) = 0.5 tanh(z / 2) + 0.5 costs one transcendental; the halving is
# folded into the gathered input rows and into a halved copy of the recurrent
# weights (once per chunk), so that one tanh covers all of an LSTM step's
# gates. The backward pass's factors that do not depend on the carried
# gradient (sigma', 1 - tanh^2 and the like) are computed in the forward loop,
# while each step's values are still in cache.


def _gru_shapes(n_x, n_a):
    return {
        "WxT_ur": (n_x, 2 * n_a),
        "WhT_ur": (n_a, 2 * n_a),
        "b_ur": (2 * n_a,),
        "WxT_c": (n_x, n_a),
        "WhT_c": (n_a, n_a),
        "b_c": (n_a,),
        "WyT": (n_a, n_x),
        "by": (n_x,),
    }


class _GRUWorkspace:
    """Buffers for one GRU chunk shape, reused by every step."""

    def __init__(self, n_x, n_a, T, m, dtype):
        self.C = np.zeros((T + 1, m, n_a), dtype)  # C[0]: the carried-in state
        self.UR = np.zeros((T, m, 2 * n_a), dtype)  # gates [u | r]
        self.CC = np.zeros((T, m, n_a), dtype)  # candidates c~
        self.RC = np.zeros((T, m, n_a), dtype)  # r * c<t-1>
        self.dC = np.zeros((T, m, n_a), dtype)
        self.dZur = np.zeros((T, m, 2 * n_a), dtype)
        self.dZc = np.zeros((T, m, n_a), dtype)
        self.table_ur = np.zeros((n_x, 2 * n_a), dtype)
        self.table_c = np.zeros((n_x, n_a), dtype)
        self.Wh_half = np.zeros((n_a, 2 * n_a), dtype)
        self.t2 = np.zeros((m, 2 * n_a), dtype)
        self.t1 = np.zeros((m, n_a), dtype)
        self.dRC = np.zeros((m, n_a), dtype)
        self.dc = np.zeros((m, n_a), dtype)
        self.logits = np.zeros((T * m, n_x), dtype)
        self.one_hot = np.zeros((T * m, n_x), dtype)
        self.rows = np.arange(T * m)


def _gru_step(P, G, X, Y, h0, ws):
    """GRU forward and backward over one chunk (see :func:`_fast_step`).
    ``h0`` and the state returned are c<t> ``(m, n_a)``."""
    T, m = X.shape
    n_a = h0.shape[1]
    C, UR, CC, RC = ws.C, ws.UR, ws.CC, ws.RC
    t2, t1 = ws.t2, ws.t1
    C[0] = h0
    # The input rows with their bias added (and halved for the gates): one
    # gather per chunk.
    np.add(P["WxT_ur"], P["b_ur"], out=ws.table_ur)
    ws.table_ur *= 0.5  # sigma(z) = 0.5 tanh(z / 2) + 0.5
    np.take(ws.table_ur, X, axis=0, out=UR, mode="clip")
    np.add(P["WxT_c"], P["b_c"], out=ws.table_c)
    np.take(ws.table_c, X, axis=0, out=CC, mode="clip")
    Wh_half, WhT_c = ws.Wh_half, P["WhT_c"]
    np.multiply(P["WhT_ur"], 0.5, out=Wh_half)
    dZur, dZc = ws.dZur, ws.dZc
    for t in range(T):
        c_prev, g, cc, c = C[t], UR[t], CC[t], C[t + 1]
        np.matmul(c_prev, Wh_half, out=t2)
        g += t2
        np.tanh(g, out=g)
        g *= 0.5
        g += 0.5
        u, r = g[:, :n_a], g[:, n_a:]
        np.multiply(r, c_prev, out=RC[t])
        np.matmul(RC[t], WhT_c, out=t1)
        cc += t1
        np.tanh(cc, out=cc)
        np.subtract(cc, c_prev, out=t1)  # c = c_prev + u (c~ - c_prev)
        np.multiply(t1, u, out=c)
        c += c_prev
        # The backward pass's factors that do not depend on the carried
        # gradient, while this step's values are in cache.
        dzu, dzr, dzc = dZur[t, :, :n_a], dZur[t, :, n_a:], dZc[t]
        np.subtract(1, u, out=dzr)  # scratch: 1 - u
        np.multiply(u, dzr, out=dzu)
        dzu *= t1  # (c~ - c_prev) u (1 - u)
        np.multiply(cc, cc, out=t1)
        np.subtract(1, t1, out=t1)
        np.multiply(u, t1, out=dzc)  # u (1 - c~^2)
        np.copyto(u, dzr)  # u's place now holds 1 - u
        np.subtract(1, r, out=t1)
        t1 *= r
        np.multiply(c_prev, t1, out=dzr)  # c_prev r (1 - r)
    Cs = C[1:].reshape(T * m, n_a)
    dCs = ws.dC.reshape(T * m, n_a)
    loss = _softmax_head(P["WyT"], P["by"], G["WyT"], G["by"], Cs, Y, ws, dCs)
    OMU, R, C_prev = UR[:, :, :n_a], UR[:, :, n_a:], C[:-1]
    dZu, dZr = dZur[:, :, :n_a], dZur[:, :, n_a:]
    dC, dc, dRC = ws.dC, ws.dc, ws.dRC
    dc[...] = 0
    WhT_ur_T, WhT_c_T = P["WhT_ur"].T, WhT_c.T
    for t in range(T - 1, -1, -1):
        dc += dC[t]
        dZu[t] *= dc
        dZc[t] *= dc
        np.matmul(dZc[t], WhT_c_T, out=dRC)
        dZr[t] *= dRC
        dc *= OMU[t]
        dRC *= R[t]
        dc += dRC
        np.matmul(dZur[t], WhT_ur_T, out=t1)
        dc += t1
    dZur2, dZc2 = dZur.reshape(T * m, 2 * n_a), dZc.reshape(T * m, n_a)
    np.matmul(C_prev.reshape(T * m, n_a).T, dZur2, out=G["WhT_ur"])
    np.matmul(RC.reshape(T * m, n_a).T, dZc2, out=G["WhT_c"])
    dZur2.sum(axis=0, out=G["b_ur"])
    dZc2.sum(axis=0, out=G["b_c"])
    _input_grads(ws, X, dZur2, G["WxT_ur"])
    np.matmul(ws.one_hot.T, dZc2, out=G["WxT_c"])
    return loss, C[T].copy()


def _lstm_shapes(n_x, n_a):
    return {
        "WxT": (n_x, 4 * n_a),
        "WhT": (n_a, 4 * n_a),
        "b": (4 * n_a,),
        "WyT": (n_a, n_x),
        "by": (n_x,),
    }


class _LSTMWorkspace:
    """Buffers for one LSTM chunk shape, reused by every step."""

    def __init__(self, n_x, n_a, T, m, dtype):
        self.A = np.zeros((T + 1, m, n_a), dtype)  # A[0], C[0]: the carried-in state
        self.C = np.zeros((T + 1, m, n_a), dtype)
        self.Z = np.zeros((T, m, 4 * n_a), dtype)  # gates [f | i | o | c~]
        self.TC = np.zeros((T, m, n_a), dtype)  # tanh(c)
        self.dA = np.zeros((T, m, n_a), dtype)
        self.dZ = np.zeros((T, m, 4 * n_a), dtype)
        self.K = np.zeros((T, m, n_a), dtype)
        self.scale = np.ones(4 * n_a, dtype)
        self.scale[: 3 * n_a] = 0.5  # sigma(z) = 0.5 tanh(z / 2) + 0.5
        self.Wh_s = np.zeros((n_a, 4 * n_a), dtype)
        self.table = np.zeros((n_x, 4 * n_a), dtype)
        self.t4 = np.zeros((m, 4 * n_a), dtype)
        self.t1 = np.zeros((m, n_a), dtype)
        self.da = np.zeros((m, n_a), dtype)
        self.dc = np.zeros((m, n_a), dtype)
        self.logits = np.zeros((T * m, n_x), dtype)
        self.one_hot = np.zeros((T * m, n_x), dtype)
        self.rows = np.arange(T * m)


def _lstm_step(P, G, X, Y, h0, ws):
    """LSTM forward and backward over one chunk (see :func:`_fast_step`).
    ``h0`` and the state returned are [a<t> | c<t>] ``(m, 2 n_a)``."""
    T, m = X.shape
    n_a = h0.shape[1] // 2
    A, C, Z, TC, t4, t1 = ws.A, ws.C, ws.Z, ws.TC, ws.t4, ws.t1
    A[0] = h0[:, :n_a]
    C[0] = h0[:, n_a:]
    # The input rows with their bias added (and halved for the sigmoid
    # gates): one gather per chunk.
    np.add(P["WxT"], P["b"], out=ws.table)
    ws.table *= ws.scale
    np.take(ws.table, X, axis=0, out=Z, mode="clip")
    Wh_s = ws.Wh_s
    np.multiply(P["WhT"], ws.scale, out=Wh_s)
    s3 = 3 * n_a
    dZ, K = ws.dZ, ws.K
    for t in range(T):
        z, c, tc, dz, k = Z[t], C[t + 1], TC[t], dZ[t], K[t]
        np.matmul(A[t], Wh_s, out=t4)
        z += t4
        np.tanh(z, out=z)
        sig = z[:, :s3]
        sig *= 0.5
        sig += 0.5
        i, o, cc = z[:, n_a : 2 * n_a], z[:, 2 * n_a : s3], z[:, s3:]
        np.multiply(z[:, :n_a], C[t], out=c)
        np.multiply(i, cc, out=t1)
        c += t1
        np.tanh(c, out=tc)
        np.multiply(o, tc, out=A[t + 1])
        # The backward pass's factors that do not depend on the carried
        # gradients, while this step's values are in cache.
        dsig = dz[:, :s3]
        np.subtract(1, sig, out=dsig)
        dsig *= sig  # sigma' = sigma (1 - sigma) for f, i, o
        dz[:, :n_a] *= C[t]
        dz[:, n_a : 2 * n_a] *= cc
        dz[:, 2 * n_a : s3] *= tc
        dcc = dz[:, s3:]
        np.multiply(cc, cc, out=dcc)
        np.subtract(1, dcc, out=dcc)
        dcc *= i  # i (1 - c~^2)
        np.multiply(tc, tc, out=k)
        np.subtract(1, k, out=k)
        k *= o  # dc/da through a = o tanh(c): o (1 - tanh(c)^2)
    As = A[1:].reshape(T * m, n_a)
    dA = ws.dA
    loss = _softmax_head(P["WyT"], P["by"], G["WyT"], G["by"], As, Y, ws, dA.reshape(T * m, n_a))
    Gf = Z[:, :, :n_a]
    da, dc = ws.da, ws.dc
    da[...] = 0
    dc[...] = 0
    WhT_T = P["WhT"].T
    for t in range(T - 1, -1, -1):
        da += dA[t]
        np.multiply(da, K[t], out=t1)
        dc += t1
        dz = dZ[t]
        dz4 = dz.reshape(m, 4, n_a)
        dz4[:, :2] *= dc[:, np.newaxis, :]
        dz4[:, 3] *= dc
        dz4[:, 2] *= da
        dc *= Gf[t]
        np.matmul(dz, WhT_T, out=da)
    dZ2 = dZ.reshape(T * m, 4 * n_a)
    np.matmul(A[:-1].reshape(T * m, n_a).T, dZ2, out=G["WhT"])
    dZ2.sum(axis=0, out=G["b"])
    _input_grads(ws, X, dZ2, G["WxT"])
    return loss, np.concatenate([A[T], C[T]], axis=1)


_STEPS = {
    "rnn": (_fast_step, _Workspace),
    "gru": (_gru_step, _GRUWorkspace),
    "lstm": (_lstm_step, _LSTMWorkspace),
}


class _SplitStep:
    """One training step with the batch split into parts computed side by side.

    The ``m`` streams are cut into ``parts`` contiguous groups; each group runs
    the cell's step (:func:`_fast_step`, :func:`_gru_step`, :func:`_lstm_step`) on its own workspace and gradient buffer, in a thread
    of its own (numpy releases the GIL inside matrix products and ufunc loops,
    so the parts really run on separate cores, each with single-threaded
    BLAS; a single part may use several BLAS threads, see
    :func:`default_blas_threads`). The mean loss and its gradient over the whole batch are the
    averages of the parts' losses and gradients, weighted by the parts' sizes
    and summed in a fixed order: the result does not depend on which thread
    finishes first.
    """

    def __init__(self, n_x, n_a, T, m, parts, dtype, pool, cell="rnn"):
        bounds = np.linspace(0, m, parts + 1).round().astype(int)
        self.slices = [slice(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:])]
        self.weights = [(s.stop - s.start) / m for s in self.slices]
        self.grads = [np.zeros(_flat_size(n_x, n_a, cell), dtype) for _ in self.slices]
        self.views = [_flat_views(g, n_x, n_a, cell) for g in self.grads]
        self.step, workspace = _STEPS[cell]
        self.workspaces = [workspace(n_x, n_a, T, s.stop - s.start, dtype) for s in self.slices]
        self.pool = pool

    def __call__(self, P, gflat, X, Y, h):
        """Loss over the batch; ``gflat`` gets its gradient, ``h`` (m, state size) the new state."""

        def part(k):
            cols = self.slices[k]
            with np.errstate(over="ignore", invalid="ignore"):  # errstate is per thread
                return self.step(P, self.views[k], X[:, cols], Y[:, cols], h[cols], self.workspaces[k])

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
    """A character-level language model: a vocabulary and the parameters of a
    recurrent cell with softmax outputs over that vocabulary.

    ``cell`` is ``"rnn"`` (a tanh RNN; ``params`` in the course's layout:
    ``Waa``, ``Wax``, ``Wya``, ``ba``, ``by``), ``"gru"`` (``Wu, bu, Wr, br,
    Wc, bc, Wy, by``, as ``rnn_utils.init_gru_params`` makes them) or
    ``"lstm"`` (``Wf, bf, Wi, bi, Wc, bc, Wo, bo, Wy, by``, as
    ``rnn_utils.init_lstm_params``); ``n_x = n_y =`` the vocabulary size.
    """

    def __init__(self, vocab, params, cell="rnn"):
        if not isinstance(vocab, CharVocab):
            raise ValueError(f"vocab must be a CharVocab; got {type(vocab).__name__}")
        _check_cell(cell)
        n_x, n_a, n_y, p = _check_cell_params(cell, params)
        if n_x != vocab.size or n_y != vocab.size:
            raise ValueError(
                f"params must match the vocabulary of {vocab.size} characters; got n_x = {n_x}, n_y = {n_y}"
            )
        self.vocab = vocab
        self.cell = cell
        self.params = p
        # What resuming needs besides the weights (optimizer moments, step
        # count, place in the data); set by train_char_model, None otherwise.
        self.train_state = None

    @property
    def n_a(self):
        return self.params["Waa" if self.cell == "rnn" else "Wy"].shape[-1]

    @property
    def _dtype(self):
        return self.params["by"].dtype

    def __repr__(self):
        cell = "" if self.cell == "rnn" else f"cell={self.cell!r}, "
        return f"CharModel({cell}n_a={self.n_a}, vocab_size={self.vocab.size}, dtype={self._dtype})"

    def _zero_state(self):
        """The state at the start of a text: ``(a,)``, ``(c,)`` or ``(a, c)``, each ``(n_a, 1)``."""
        zero = np.zeros((self.n_a, 1), dtype=self._dtype)
        return (zero, zero.copy()) if self.cell == "lstm" else (zero,)

    def _run(self, x, state):
        """The course's forward pass of this cell over ``x (V, m, T)`` from
        ``state``: returns the hidden states ``(n_a, m, T)`` that the output
        layer reads (a; for the GRU, c), ``y_hat (V, m, T)`` and the state
        after the last step."""
        if self.cell == "gru":
            c, y_hat, _ = gru_forward(x, state[0], self.params)
            return c, y_hat, (c[:, :, -1],)
        if self.cell == "lstm":
            a, y_hat, c, _ = lstm_forward(x, state[0], self.params, c0=state[1])
            return a, y_hat, (a[:, :, -1], c[:, :, -1])
        a, y_hat, _ = rnn_forward(x, state[0], self.params)
        return a, y_hat, (a[:, :, -1],)

    def _forward(self, ids, chunk=8192, state=None):
        """Read ``ids`` as one continuous stream from ``state`` (by default
        the zero state, ``a^{<0>} = 0``), with the course's own forward pass
        (``rnn_utils.rnn_forward``, ``gru_forward`` or ``lstm_forward``, one
        example, at most ``chunk`` steps at a time so that memory stays
        bounded). Yields ``(a, y_hat, state)`` per chunk: ``a (n_a, T)`` the
        hidden states, ``y_hat (V, T)`` the softmax outputs after each id,
        and the state after the chunk."""
        state = self._zero_state() if state is None else state
        for start in range(0, len(ids), chunk):
            x = one_hot(ids[np.newaxis, start : start + chunk], self.vocab.size).astype(self._dtype)
            a, y_hat, state = self._run(x, state)
            yield a[:, 0, :], y_hat[:, 0, :], state

    def hidden_states(self, text):
        """Hidden activations after each character of ``text``, ``(n_a, len(text))``,
        starting from the zero state: ``a`` (for the GRU, ``c``, the state
        the output layer reads)."""
        return self._hidden(self.vocab.encode(text))

    def _hidden(self, ids):
        if not len(ids):
            return np.zeros((self.n_a, 0), dtype=self._dtype)
        return np.concatenate([a for a, _, _ in self._forward(ids)], axis=1)

    def loss(self, text):
        """Mean negative log-likelihood, in nats per character, of each
        character of ``text`` given all those before it (the hidden state is
        carried through the whole text; the first character is only read):
        the course's ``cross_entropy_from_logits`` of the outputs, divided by
        the number of characters predicted."""
        ids = self.vocab.encode(text)
        if len(ids) < 2:
            raise ValueError(f"text must have at least 2 characters to score; got {len(ids)}")
        total, start = 0.0, 1
        Wy = self.params["Wya" if self.cell == "rnn" else "Wy"].astype(np.float64)
        by = self.params["by"].astype(np.float64)
        for a, _, _ in self._forward(ids[:-1]):
            targets = one_hot(ids[np.newaxis, start : start + a.shape[1]], self.vocab.size)
            # from the logits, not y_hat: exact even where a float32 probability rounds to 0
            total += cross_entropy_from_logits((Wy @ a + by)[:, np.newaxis, :], targets)
            start += a.shape[1]
        return total / (len(ids) - 1)

    def sample(self, n_chars, temperature=1.0, seed=0, prefix=""):
        """Generate ``n_chars`` characters after ``prefix``; returns ``prefix``
        followed by them, drawn by the course's ``rnn_utils.sample`` (for the
        GRU and the LSTM, the same drawing rule, step by step with the
        course's ``gru_forward`` or ``lstm_forward``).

        The hidden state starts at zero and reads the prefix first. With an
        empty prefix, a newline is read first if the vocabulary has one (in a
        list of names it marks "a new name starts here"); otherwise the first
        input is the all-zero vector.

        ``temperature`` divides the logits: below 1 sharpens the distribution,
        above 1 flattens it, and 0 means greedy decoding (always the most
        likely character).
        """
        # rnn_utils.sample checks n_chars and temperature.
        if not isinstance(prefix, str):
            raise ValueError(f"prefix must be a str; got {type(prefix).__name__}")
        warm = self.vocab.encode(prefix if prefix or "\n" not in self.vocab.char_to_id else "\n")
        first_id = int(warm[-1]) if len(warm) else None
        rng = np.random.default_rng(seed)
        if self.cell == "rnn":
            # rnn_utils.sample reads its first id itself: run the rest of the warm-up first.
            a0 = self._hidden(warm[:-1])[:, -1:] if len(warm) > 1 else None
            ids = sample(self.params, n_chars, rng, temperature, a0=a0, first_id=first_id)
        else:
            ids = self._sample_gated(warm, n_chars, temperature, rng)
        return prefix + self.vocab.decode(ids)

    def _sample_gated(self, warm, n_chars, temperature, rng):
        """``rnn_utils.sample``'s loop for a gated cell: after reading the
        ids ``warm``, draw ``n_chars`` ids, each read back as the next input."""
        if isinstance(n_chars, bool) or not isinstance(n_chars, (int, np.integer)) or n_chars < 0:
            raise ValueError(f"n_chars must be a non-negative integer; got {n_chars!r}")
        _check_number("temperature", temperature, "a finite number >= 0", lambda v: v >= 0)
        state = self._zero_state()
        for _, _, state in self._forward(warm[:-1]):
            pass
        x = np.zeros((self.vocab.size, 1, 1), dtype=self._dtype)
        if len(warm):
            x[warm[-1]] = 1.0
        ids = []
        for _ in range(n_chars):
            _, y_hat, state = self._run(x, state)
            i = _draw_id(y_hat[:, 0, 0], rng, temperature)
            ids.append(i)
            x[...] = 0
            x[i] = 1.0
        return ids

    def save(self, path, *, with_train_state=True):
        """Write the model to a ``.npz`` file, atomically: the file appears
        complete or not at all, even if writing is interrupted.

        The file holds the parameters and the vocabulary (model format 1). If
        the model carries a :attr:`train_state` (the models that
        :func:`train_char_model` returns do) and ``with_train_state`` is true,
        the file holds that too (model format 2), so that
        ``train_char_model(text, resume=path)`` continues the run where it
        stopped. A GRU or an LSTM is written as model format 3, which adds
        the cell's name (with or without the training state). The target is
        checked first (see :func:`check_save_path`).
        """
        import os
        import tempfile

        path = check_save_path(path)
        arrays = dict(self.params)
        arrays["chars"] = np.array([ord(c) for c in self.vocab.chars], dtype=np.int32)
        model_format = 1
        if with_train_state and self.train_state is not None:
            arrays.update(_train_state_to_arrays(self.train_state, self.cell))
            model_format = 2
        if self.cell != "rnn":
            arrays["cell"] = np.array(self.cell)
            model_format = 3
        arrays["format"] = np.array([model_format], dtype=np.int32)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


# Format 1: parameters, "chars" and "format". Format 2 adds the training state
# (the "state_*" arrays below). Files without a training state are still
# written as format 1, so that older code reads them. Format 3 (GRU and LSTM
# models only; an RNN is still written as format 1 or 2) adds "cell", the
# cell's name, and holds that cell's parameters, with the training state or
# without it (then it has no "state_*" arrays). Formats 1 and 2 are RNNs.
_MODEL_FORMAT = 3
_STATE_META = "state_meta"  # a JSON string: optimizer, step, data position, rng state


def _state_arrays(cell):
    return ("state_a", *(f"state_m{k}_{name}" for k in (1, 2) for name in _course_labels(cell)))


def check_save_path(path):
    """Check, before any training, that a model can be written to ``path``.

    Its folder must exist, be a folder and be writable (a scratch file is
    created there and removed again), and ``path`` itself must not be a
    folder. Returns ``path`` as a ``Path``; raises ``ValueError`` saying which
    check failed.
    """
    import os
    import tempfile

    path = Path(path)
    if path.is_dir():
        raise ValueError(
            f"cannot write the model to {path}: it is a folder; give a file name such as {path / 'model.npz'}"
        )
    folder = path.parent
    if not folder.exists():
        raise ValueError(f"cannot write the model to {path}: the folder {folder} does not exist")
    if not folder.is_dir():
        raise ValueError(f"cannot write the model to {path}: {folder} is not a folder")
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=path.name, suffix=".tmp")
    except OSError as exc:
        raise ValueError(
            f"cannot write the model to {path}: the folder {folder} is not writable ({exc.strerror})"
        ) from None
    os.close(fd)
    os.unlink(probe)
    return path


def _train_state_to_arrays(state, cell="rnn"):
    """A training state (see :func:`train_char_model`) as ``.npz`` arrays."""
    import json

    arrays = {"state_a": state["a"]}
    for k in (1, 2):
        for name in _course_labels(cell):
            arrays[f"state_m{k}_{name}"] = state[f"m{k}"][name]
    meta = {key: state[key] for key in ("optimizer", "step", "rng", "offset", "chunk", "data")}
    arrays[_STATE_META] = np.array(json.dumps(meta))
    return arrays


class ModelFileError(ValueError):
    """A file that :func:`load_char_model` cannot read as a model. The message
    names the file and says what is wrong with it."""


def load_char_model(path):
    """Read a model written by :meth:`CharModel.save` (no pickles are loaded).

    Reads model formats 1 (parameters and vocabulary) and 2 (also the
    training state, put in the model's ``train_state``), both RNNs, and 3
    (a GRU or an LSTM, named in its ``cell`` array, with or without the
    training state). Anything else, a missing file, a file that is not a
    ``.npz`` archive, a damaged archive, a missing array, an unknown cell,
    shapes that do not agree with each other and with the vocabulary, a
    format newer than this code, raises :class:`ModelFileError` (a
    ``ValueError``) naming the file.
    """
    import json

    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"cannot read a model from {path}: no such file")
    if path.is_dir():
        raise ModelFileError(f"cannot read a model from {path}: it is a folder")

    def not_a_model(why):
        return ModelFileError(
            f"{path} is not a model written by `python -m char_trainer train` (CharModel.save): {why}"
        )

    with open(path, "rb") as f:
        magic = f.read(6)
    if magic == b"\x93NUMPY":
        raise not_a_model("it is a single .npy array, not a .npz archive of arrays")
    if not magic.startswith(b"PK\x03\x04"):
        raise not_a_model("it is not a .npz archive")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except Exception as exc:  # BadZipFile, EOFError, zlib.error, ValueError: all mean a damaged file
        raise not_a_model(f"the archive is damaged or truncated ({type(exc).__name__}: {exc})") from None

    if "format" not in arrays:
        raise not_a_model(f"it has no 'format' array; it has {sorted(arrays)}")
    fmt = arrays["format"]
    if fmt.shape != (1,) or not np.issubdtype(fmt.dtype, np.integer) or fmt[0] < 1:
        raise not_a_model(f"its 'format' must be one positive integer; got {fmt!r}")
    fmt = int(fmt[0])
    if fmt > _MODEL_FORMAT:
        raise ModelFileError(
            f"{path} has model format {fmt}; this code reads formats 1 to {_MODEL_FORMAT} "
            "(a newer char_trainer wrote it)"
        )
    cell = "rnn"
    if fmt == 3:
        if "cell" not in arrays:
            raise not_a_model("it is format 3 but has no 'cell' array naming its cell")
        found = arrays["cell"]
        cell = str(found[()]) if found.shape == () and found.dtype.kind == "U" else None
        if cell not in CELLS:
            raise ModelFileError(
                f"{path} holds a model of an unknown cell {found!r}; this code knows the cells "
                f"{', '.join(repr(c) for c in CELLS)}"
            )
    labels = _course_labels(cell)
    with_state = fmt == 2 or (fmt == 3 and _STATE_META in arrays)
    needed = [*labels, "chars"] + ([*_state_arrays(cell), _STATE_META] if with_state else [])
    missing = [k for k in needed if k not in arrays]
    if missing:
        raise not_a_model(f"it is format {fmt} but lacks the arrays {missing}")
    chars = arrays["chars"]
    if (
        chars.ndim != 1
        or chars.size == 0
        or not np.issubdtype(chars.dtype, np.integer)
        or np.any(np.diff(chars) <= 0)
        or chars.min() < 0
        or chars.max() > 0x10FFFF
    ):
        raise not_a_model(
            f"'chars' must be sorted distinct character codes, shape (n_x,); got shape {chars.shape}, "
            f"dtype {chars.dtype}"
        )
    n_x = len(chars)
    for k in labels:
        if arrays[k].dtype not in (np.float32, np.float64):
            raise not_a_model(f"{k} must hold float32 or float64 numbers; got dtype {arrays[k].dtype}")
    if cell == "rnn":
        if arrays["Waa"].ndim != 2 or arrays["Waa"].shape[0] != arrays["Waa"].shape[1]:
            raise not_a_model(f"Waa must be square, (n_a, n_a); got shape {arrays['Waa'].shape}")
        n_a, size_from = arrays["Waa"].shape[0], "Waa"
    else:
        if arrays["Wy"].ndim != 2:
            raise not_a_model(f"Wy must be (n_y, n_a); got shape {arrays['Wy'].shape}")
        n_a, size_from = arrays["Wy"].shape[1], "Wy"
    sizes = {"n_a": n_a, "n_x": n_x, "n_y": n_x, "1": 1, "n_a + n_x": n_a + n_x}
    for k, axes in labels.items():
        expected = tuple(sizes[lab] for lab in axes)
        if arrays[k].shape != expected:
            raise not_a_model(
                f"{k} has shape {arrays[k].shape}; expected ({', '.join(axes)}) = {expected}, "
                f"from n_a = {n_a} ({size_from}) and the {n_x} characters of 'chars'"
            )
        if not np.all(np.isfinite(arrays[k])):
            raise not_a_model(f"{k} holds non-finite numbers")
    params = {k: arrays[k] for k in labels}
    model = CharModel(CharVocab("".join(chr(c) for c in chars.tolist())), params, cell)
    if with_state:
        try:
            meta = json.loads(str(arrays[_STATE_META][()]))
            state = _check_train_state(meta, arrays, params, cell)
        except (ValueError, TypeError, KeyError) as exc:
            raise not_a_model(f"its training state is damaged ({type(exc).__name__}: {exc})") from None
        model.train_state = state
    return model


def _check_train_state(meta, arrays, params, cell="rnn"):
    """The training state of a format-2 (or 3) file, checked; raises on any mismatch."""
    state = {"m1": {}, "m2": {}}
    _check_choice("optimizer", meta["optimizer"], {"adam", "adagrad", "sgd"})
    for key in ("step", "chunk"):
        if not isinstance(meta[key], int) or meta[key] < 0:
            raise ValueError(f"{key} must be a non-negative integer; got {meta[key]!r}")
    if meta["offset"] is not None and (not isinstance(meta["offset"], int) or meta["offset"] < 0):
        raise ValueError(f"offset must be null or a non-negative integer; got {meta['offset']!r}")
    np.random.default_rng().bit_generator.state = meta["rng"]  # raises if it is not a PCG64 state
    for k in (1, 2):
        for name in _course_labels(cell):
            moment = arrays[f"state_m{k}_{name}"]
            if moment.shape != params[name].shape:
                raise ValueError(
                    f"state_m{k}_{name} has shape {moment.shape}; expected {params[name].shape}, as {name}"
                )
            state[f"m{k}"][name] = moment
    a = arrays["state_a"]
    n_a = params["Waa" if cell == "rnn" else "Wy"].shape[-1]
    if a.ndim != 2 or a.shape[0] != _state_size(cell, n_a):
        what = "(2 n_a, batch_size), a<t> above c<t>," if cell == "lstm" else "(n_a, batch_size)"
        raise ValueError(f"state_a has shape {a.shape}; expected {what} with n_a = {n_a}")
    state["a"] = a
    state.update((key, meta[key]) for key in ("optimizer", "step", "rng", "offset", "chunk", "data"))
    return state


class TrainingDiverged(ValueError):
    """Training stopped because the training loss became non-finite, or
    exploded (see ``explode_factor`` in :func:`train_char_model`).

    ``model`` is the model that training would have returned had it stopped
    just before: the last model whose loss was fine (or, with
    ``keep_best=True``, the best by held-out loss so far); ``history`` holds
    the losses up to there, with ``model_step`` saying which step ``model``
    is from.
    """

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

    def update(self, step, elapsed, chars, loss, val_loss, best=None, eval_cost=None, force=False):
        """``best``: (step, held-out loss) of the best model so far, shown if
        given; ``eval_cost``: seconds the last held-out score took (bar only)."""
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
        if best is not None:
            text += f"  best {best[1]:.3f} @{best[0]}"
        if eval_cost is not None and self.mode == "bar":
            text += f" (scoring {eval_cost:.2f} s)"
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


# How many threads share a batch. Measured (n_a = 256, seq 50, Shakespeare):
# on a 16-core Xeon the split ran at 160k / 248k / 308k / 234k / 128k chars/s
# with 1 / 2 / 4 / 8 / 16 threads at batch 128, and 143k / 245k / 402k / 576k /
# 388k at batch 512; on 2 cores, 2 threads beat 1 at batch 64 and 128. A
# thread's share of the batch must stay large enough for a good matrix product
# (32 streams or more: batch 128 peaks at 4 threads, batch 512 at 8 of 16), and
# past 8 threads the coordination costs more than it gains.
#
# A batch too small to split still has large products (the output layer and
# the weight gradients cover all T_x * m rows of a chunk), and multi-threaded
# BLAS speeds them up. Measured per step on 2 cores (AVX-512 Xeon), batch 32,
# one group: 12.1 ms with 1 BLAS thread and 9.4 ms with 2 at n_a = 256, 38.8
# and 24.9 ms at n_a = 512, 3.1 and 3.0 ms at n_a = 100; keeping the recurrence
# at 1 thread and switching for the large products (4 switches a step) was
# slower than 2 threads throughout. With several groups, every core already
# runs one, so BLAS stays single-threaded (and OpenBLAS serialises concurrent
# multi-threaded calls).
MIN_STREAMS_PER_THREAD = 32
MAX_THREADS = 8
MAX_BLAS_THREADS = 4


def available_cores():
    """CPU cores this process may run on (its affinity mask where the system has one)."""
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity mask
        return os.cpu_count() or 1


def default_threads(batch_size, cores=None):
    """The number of threads to split a batch of ``batch_size`` streams between.

    One per core (``cores``, by default :func:`available_cores`), but no more
    than ``batch_size // MIN_STREAMS_PER_THREAD`` and :data:`MAX_THREADS`, and at
    least one: so a machine with more cores never trains slower.
    """
    _check_positive_int("batch_size", batch_size)
    cores = available_cores() if cores is None else cores
    _check_positive_int("cores", cores)
    return max(1, min(cores, batch_size // MIN_STREAMS_PER_THREAD, MAX_THREADS))


def default_blas_threads(threads, cores=None):
    """BLAS threads for each of ``threads`` groups of streams: the free cores
    (at most :data:`MAX_BLAS_THREADS`) when the batch is not split, else 1."""
    _check_positive_int("threads", threads)
    cores = available_cores() if cores is None else cores
    _check_positive_int("cores", cores)
    return max(1, min(cores, MAX_BLAS_THREADS)) if threads == 1 else 1


def cut_streams(ids, batch_size, seq_len, offset):
    """Cut a text into ``batch_size`` contiguous streams, read side by side.

    The first ``offset`` ids are skipped; then the longest stretch that gives
    every stream a whole number of ``seq_len``-character chunks is cut into
    ``batch_size`` equal pieces, one after the other in the text. Stream ``i``
    is ``ids[offset + i * span : offset + (i + 1) * span]``, and its targets
    are the same ids shifted by one (so the last target of a stream is the
    first input of the next). Chunk ``k`` of a pass is the columns
    ``k * seq_len`` to ``(k + 1) * seq_len`` of both arrays.

    Args:
        ids: int array ``(n,)``, the text's ids.
        batch_size: ``m``, the number of streams.
        seq_len: ``T_x``, the characters per chunk.
        offset: ids to skip, ``0 <= offset`` (the trainer draws it in
            ``[0, seq_len)`` for each pass).

    Returns:
        inputs, targets: int arrays ``(batch_size, span)`` with
        ``span = n_chunks * seq_len`` and
        ``n_chunks = (n - 1 - offset) // batch_size // seq_len``;
        ``targets[i, t]`` is the id after ``inputs[i, t]`` in the text.
    """
    ids = np.asarray(ids)
    if ids.ndim != 1 or (ids.size and not np.issubdtype(ids.dtype, np.integer)):
        raise ValueError(f"ids must be a 1-D integer array (n,); got shape {ids.shape}, dtype {ids.dtype}")
    _check_positive_int("batch_size", batch_size)
    _check_positive_int("seq_len", seq_len)
    if isinstance(offset, bool) or not isinstance(offset, (int, np.integer)) or offset < 0:
        raise ValueError(f"offset must be a non-negative integer; got {offset!r}")
    n_chunks = (len(ids) - 1 - offset) // batch_size // seq_len
    if n_chunks < 1:
        raise ValueError(
            f"ids of length {len(ids)} after offset = {offset} must give each of the batch_size = "
            f"{batch_size} streams at least seq_len = {seq_len} characters; got fewer"
        )
    span = n_chunks * seq_len
    streams = ids[offset : offset + batch_size * span + 1]
    return streams[:-1].reshape(batch_size, span), streams[1:].reshape(batch_size, span)


EXPLODING_LOSS_FACTOR = 3.0
"""The divergence limit: a training loss above
``EXPLODING_LOSS_FACTOR * ln V`` nats per character stops training.

``ln V`` is the loss of uniform guessing among the ``V`` characters, where
every fresh model starts (its small random weights give nearly uniform
outputs), and a healthy run only goes down from there: Adam at learning rates
up to 0.1 on the course's corpora stays below 2 ln V at its worst step. A
loss of 3 ln V means the model gives the right character, on average, the
probability ``V**-3``: far worse than guessing, so nothing can be lost by
stopping. :func:`train_char_model` takes another factor as
``explode_factor=``, or ``None`` to stop only on a non-finite loss.
"""

# eval_every="auto": score the held-out text once the training time since the
# last evaluation is at least this many times what that evaluation took (so
# scoring costs at most about a tenth of the run), and at least this often.
_AUTO_EVAL_RATIO = 10.0
_AUTO_EVAL_MIN_SECONDS = 0.5


class _Optimizer:
    """Adam, Adagrad or SGD on one flat parameter buffer, in place: the update
    rules are the course's own (``rnn_utils.adam_update`` and friends), applied
    to the whole buffer at once.

    ``step`` counts the updates since the run began, resumed runs included:
    Adam's bias correction depends on it. ``moment1`` and ``moment2`` are
    Adam's ``m`` and ``v``; Adagrad keeps its running sum of squares in
    ``moment2``; SGD uses neither.
    """

    def __init__(self, name, lr, flat):
        self.name, self.lr, self.step = name, lr, 0
        self.moment1, self.moment2, self.work = np.zeros_like(flat), np.zeros_like(flat), np.empty_like(flat)

    def update(self, flat, gflat):
        if self.name == "adam":
            state = {"m": self.moment1, "v": self.moment2, "t": self.step}
            adam_update(flat, gflat, state, self.lr, inplace=True, work=self.work)
        elif self.name == "adagrad":
            adagrad_update(flat, gflat, {"s": self.moment2}, self.lr, inplace=True, work=self.work)
        else:
            sgd_update(flat, gflat, self.lr, inplace=True)
        self.step += 1


class _StreamReader:
    """Serves the trainer's chunks, pass after pass.

    Each pass starts at an offset in ``[0, seq_len)`` drawn from ``rng``, cuts
    the text with :func:`cut_streams` and zeroes the carried hidden state
    ``h`` ``(batch_size, n_a)`` in place. ``offset`` (None before the first
    pass) and ``chunk`` (the next chunk's index) say where reading stands.
    """

    def __init__(self, ids, batch_size, seq_len, rng, h):
        self.ids, self.batch_size, self.seq_len, self.rng, self.h = ids, batch_size, seq_len, rng, h
        self.offset, self.chunk, self.chunks = None, 0, 0

    def start_at(self, offset, chunk):
        """Continue a pass that began at ``offset`` with chunk ``chunk`` (resuming)."""
        self.offset, self.chunk = offset, chunk
        self.inputs, self.targets = cut_streams(self.ids, self.batch_size, self.seq_len, offset)
        self.chunks = self.inputs.shape[1] // self.seq_len

    def next_chunk(self):
        """Input and target ids ``(seq_len, batch_size)`` (time-major) of the next chunk."""
        if self.offset is None or self.chunk == self.chunks:
            # A new pass: random offset, fresh streams, zero state.
            self.start_at(int(self.rng.integers(0, self.seq_len)), 0)
            self.h[...] = 0
        cols = slice(self.chunk * self.seq_len, (self.chunk + 1) * self.seq_len)
        self.chunk += 1
        return self.inputs[:, cols].T, self.targets[:, cols].T


class _HeldOut:
    """Scores the held-out text during training and remembers the best score.

    With ``keep_best`` it keeps a copy of the best parameters and of the
    training state that goes with them; ``since_best`` counts the evaluations
    since the last new best, for ``patience``.
    """

    def __init__(self, val_text, eval_every, keep_best, patience, history):
        self.val_text, self.eval_every, self.keep_best, self.patience = (
            val_text,
            eval_every,
            keep_best,
            patience,
        )
        self.history = history
        self.seconds = 0.0  # total time spent scoring, left out of the throughput
        self.last_cost, self.train_seconds_at_last = 0.0, 0.0
        self.best_step, self.best_loss, self.best_flat, self.best_state = None, np.inf, None, None
        self.since_best = 0

    def due(self, step, steps, train_seconds):
        if self.val_text is None:
            return False
        if self.eval_every == "auto":
            wait = max(_AUTO_EVAL_MIN_SECONDS, _AUTO_EVAL_RATIO * self.last_cost)
            return train_seconds - self.train_seconds_at_last >= wait
        return step % self.eval_every == 0 or step == steps

    def score(self, step, model, flat, train_seconds, capture_state):
        import time

        t0 = time.perf_counter()
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # a diverging model scores inf
            loss = model.loss(self.val_text)
        self.last_cost = time.perf_counter() - t0
        self.seconds += self.last_cost
        self.train_seconds_at_last = train_seconds
        self.history["val_step"].append(step)
        self.history["val_loss"].append(loss)
        if loss < self.best_loss:
            self.best_step, self.best_loss, self.since_best = step, loss, 0
            if self.keep_best:
                self.best_flat, self.best_state = flat.copy(), capture_state()
        else:
            self.since_best += 1

    @property
    def out_of_patience(self):
        return self.patience is not None and self.since_best >= self.patience


def _init_gated_params(cell, n_x, n_a, rng, dtype):
    """Fresh GRU or LSTM weights in the course's layout, drawn as PyTorch's
    nn.GRU and nn.LSTM draw theirs: weights uniform on [-1/sqrt(n_a),
    1/sqrt(n_a)); each gate's bias the sum of two such draws (PyTorch keeps
    two bias vectors, b_ih and b_hh, where the course has one); ``by`` 0.

    Random gate biases matter: on Shakespeare (n_a 256, 60 s) an LSTM whose
    gate biases start at zero, with or without ``rnn_utils.init_lstm_params``'
    forget bias of 1, ended 0.1-0.15 nats/char behind one started this way
    (scripts/benchmark.py, README)."""
    scale, params = 1 / np.sqrt(n_a), {}
    for k, axes in _course_labels(cell).items():
        sizes = {"n_a": n_a, "n_y": n_x, "1": 1, "n_a + n_x": n_a + n_x}
        shape = tuple(sizes[lab] for lab in axes)
        if k.startswith("W"):
            params[k] = rng.uniform(-scale, scale, shape).astype(dtype)
        elif k == "by":
            params[k] = np.zeros(shape, dtype)
        else:
            draws = rng.uniform(-scale, scale, (2, *shape))
            params[k] = (draws[0] + draws[1]).astype(dtype)
    return params


def _resume_source(resume):
    """``(model, train_state)`` to start from: ``(None, None)`` for a fresh run."""
    import os

    if resume is None:
        return None, None
    if isinstance(resume, (str, os.PathLike)):
        resume = load_char_model(resume)
    if not isinstance(resume, CharModel):
        raise ValueError(
            f"resume must be a CharModel, a path to a saved one, or None; got {type(resume).__name__}"
        )
    return resume, resume.train_state


def _settle_cell(start, cell):
    """The cell: given (checked), else the resumed model's, else ``"rnn"``."""
    if cell is not None:
        _check_cell(cell)
    if start is None:
        return cell or "rnn"
    if cell is not None and cell != start.cell:
        raise ValueError(
            f"cell must be the resumed model's {start.cell!r} (or None); got {cell!r}: "
            "the weights of one cell cannot continue in another"
        )
    return start.cell


def _settle_settings(start, state, n_a, optimizer, dtype):
    """``n_a``, the optimizer and the dtype: given, or taken from the model resumed."""
    if start is None:
        return (100 if n_a is None else n_a), (optimizer or "adam"), np.dtype(dtype or np.float32)
    if n_a is not None and n_a != start.n_a:
        raise ValueError(
            f"n_a must be the resumed model's n_a = {start.n_a} (or None); got {n_a!r}: "
            "the weights of one size cannot continue at another"
        )
    saved = state["optimizer"] if state is not None else None
    if optimizer is not None and saved is not None and optimizer != saved:
        raise ValueError(
            f"optimizer must be the resumed run's {saved!r} (or None), whose moments were saved; got "
            f"{optimizer!r}. To switch, resume from the weights only: model.train_state = None"
        )
    return start.n_a, (optimizer or saved or "adam"), np.dtype(dtype or start._dtype)


def _check_training_text(text, val_text, vocab, resuming, seq_len, batch_size):
    """Check the texts against the vocabulary and the batch shape; return the text's ids."""
    if len(text) < seq_len + 1:
        raise ValueError(
            f"text must be longer than one sequence (seq_len + 1 = {seq_len + 1} characters); got {len(text)}"
        )
    source = "the resumed model's vocabulary" if resuming else "text"
    unknown = sorted(set(text) - vocab.char_to_id.keys())
    if unknown:
        raise ValueError(
            f"text has characters that {source} lacks: {unknown!r}; it has {''.join(vocab.chars)!r}"
        )
    if val_text is not None:
        if not isinstance(val_text, str) or len(val_text) < 2:
            raise ValueError(f"val_text must be a str of at least 2 characters; got {val_text!r:.40}")
        unknown = sorted(set(val_text) - vocab.char_to_id.keys())
        if unknown:
            raise ValueError(f"val_text has characters that {source} does not: {unknown!r}")
    ids = vocab.encode(text)
    # Each pass skips up to seq_len - 1 characters first, and must still give
    # every stream at least one chunk.
    stream_len = (len(ids) - seq_len) // batch_size
    if stream_len < seq_len:
        raise ValueError(
            f"text of {len(text)} characters gives each of the batch_size = {batch_size} "
            f"streams {stream_len} characters (after an offset of up to seq_len - 1), "
            f"fewer than seq_len = {seq_len}; use a smaller batch_size or seq_len"
        )
    return ids


def train_char_model(
    text,
    *,
    cell=None,
    n_a=None,
    seq_len=50,
    batch_size=64,
    lr=3e-3,
    steps=None,
    seconds=None,
    seed=0,
    val_text=None,
    optimizer=None,
    clip_norm=5.0,
    eval_every=200,
    keep_best=False,
    patience=None,
    explode_factor=EXPLODING_LOSS_FACTOR,
    resume=None,
    dtype=None,
    threads=None,
    progress=False,
    callback=None,
):
    """Train a character-level language model on ``text``: a tanh RNN, a GRU or an LSTM.

    The text is cut into ``batch_size`` contiguous streams that are read side
    by side, ``seq_len`` characters at a time (truncated BPTT; see
    :func:`cut_streams`): the hidden state is carried from one chunk to the
    next, the gradient is cut between them. Each pass over the text starts at
    a random offset with a fresh zero state. The gradient's global norm is
    clipped to ``clip_norm``.

    Args:
        text: the training corpus.
        cell: ``"rnn"`` (default: the course's tanh RNN), ``"gru"`` or
            ``"lstm"``, computed as ``rnn_utils`` teaches them (see
            :class:`CharModel`); when resuming, the model's.
        n_a: hidden units (default 100; when resuming, the model's).
        seq_len: steps per chunk. batch_size: streams.
        lr: learning rate.
        steps: stop after this many updates; seconds: stop after this much
            wall time; give one or both (training stops at the first reached).
            Both count this call only, not the run resumed.
        seed: seeds the initial weights and the offsets (when resuming from a
            saved training state, its random generator is used instead).
        val_text: held-out text, scored with :meth:`CharModel.loss` every
            ``eval_every`` steps and at the end. Its characters must be in the
            vocabulary.
        optimizer: ``"adam"`` (default), ``"adagrad"`` or ``"sgd"``; when
            resuming, the saved run's (another one is refused).
        clip_norm: maximum global gradient norm, or None for no clipping.
        eval_every: score ``val_text`` every this many steps; or ``"auto"``:
            whenever the training time since the last score is 10 times what
            that score took, and at least 0.5 s (scoring then costs at most
            about a tenth of the run, whatever the sizes; the command line's
            default).
        keep_best: return the model with the best held-out loss among those
            scored (a model scored at step 0 included) instead of the last
            one. Needs ``val_text``.
        patience: stop after this many scores in a row without a new best
            held-out loss; None (default) never stops early. Needs
            ``val_text``.
        explode_factor: stop on a training loss above ``explode_factor *
            ln V`` (default :data:`EXPLODING_LOSS_FACTOR`, 3), as well as on
            a non-finite one; None stops only on a non-finite loss.
        resume: a :class:`CharModel`, or the path of a saved one, to continue
            training: its weights, its vocabulary (``text`` must use only its
            characters) and, if it carries a ``train_state``, the optimizer's
            moments and step count, the random generator and, on the same
            text with the same ``batch_size`` and ``seq_len``, the place in
            the pass and the carried hidden state. Training ``2N`` steps then
            equals training ``N``, saving, and resuming for ``N`` (same
            ``threads``). ``n_a``, ``optimizer`` and ``dtype`` default to the
            model's.
        dtype: ``np.float32`` (default, fast) or ``np.float64``.
        threads: CPU threads. The batch is split into this many groups of
            streams, computed side by side, each with single-threaded BLAS
            (see ``_SplitStep``). None (default) chooses from the machine's
            cores and the batch size (:func:`default_threads`), and when
            that leaves the batch unsplit, lets BLAS use up to
            :data:`MAX_BLAS_THREADS` free cores (:func:`default_blas_threads`).
            The result depends on the threads (the split changes the rounding).
        progress: False; True for a line at each tenth of the run (step
            and losses, the same lines for the same run); or ``"bar"`` for
            one redrawn line on stderr with speed, time, the best held-out
            loss and what scoring it costs (terminals).
        callback: optional ``callback(step, loss)`` called after each update.

    Returns:
        model: a :class:`CharModel`, with a ``train_state`` (see
            :meth:`CharModel.save`) to resume from.
        history: dict with ``train_loss`` (mean nats per character at each
            step), ``val_step`` and ``val_loss``, ``steps``, ``seconds``,
            ``chars`` (characters processed), ``chars_per_second`` (training
            only: scoring time is left out), ``interrupted``,
            ``stopped_early`` (patience ran out), ``model_step`` (the step the
            returned model is from), ``resumed_from_step`` (updates done
            before this call), ``cell``, ``threads`` and ``blas_threads`` (as used)
            and, if ``val_text`` was scored,
            ``best_step`` and ``best_val_loss``. Steps count from the start
            of this call.

    Pressing Ctrl-C (or Jupyter's stop button) ends training early and keeps
    the model trained so far. A non-finite or exploding loss (see
    ``explode_factor``) raises :class:`TrainingDiverged` (a ``ValueError``)
    carrying the model training would have returned just before.
    """
    import hashlib
    import math
    import time

    if not isinstance(text, str) or not text:
        raise ValueError(f"text must be a non-empty str; got {text!r:.40}")
    if cell is not None:
        _check_cell(cell)
    start, state = _resume_source(resume)
    cell = _settle_cell(start, cell)
    n_a, optimizer, dtype = _settle_settings(start, state, n_a, optimizer, dtype)
    for name, value in (("n_a", n_a), ("seq_len", seq_len), ("batch_size", batch_size)):
        _check_positive_int(name, value)
    if steps is None and seconds is None:
        raise ValueError("give steps or seconds (or both) to say when to stop; got neither")
    if steps is not None:
        _check_positive_int("steps", steps)
    if seconds is not None:
        _check_number("seconds", seconds, "a positive number", lambda v: v > 0)
    _check_number("lr", lr, "a positive number", lambda v: v > 0)
    _check_choice("optimizer", optimizer, {"adam", "adagrad", "sgd"})
    if clip_norm is not None:
        _check_number("clip_norm", clip_norm, "a positive number or None", lambda v: v > 0)
    if eval_every != "auto":
        _check_positive_int("eval_every", eval_every)
    if keep_best not in (True, False):
        raise ValueError(f"keep_best must be True or False; got {keep_best!r}")
    if patience is not None:
        _check_positive_int("patience", patience)
    if (keep_best or patience is not None) and val_text is None:
        raise ValueError(
            "keep_best and patience need val_text, the held-out text to score; got val_text = None"
        )
    if explode_factor is not None:
        _check_number("explode_factor", explode_factor, "a number > 1 or None", lambda v: v > 1)
    # Chosen threads also put free cores to work inside BLAS; threads given are taken as they are.
    blas_threads = 1
    if threads is None:
        threads = default_threads(batch_size)
        blas_threads = default_blas_threads(threads)
    _check_positive_int("threads", threads)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be np.float32 or np.float64; got {dtype!r}")
    vocab = CharVocab(text) if start is None else start.vocab
    ids = _check_training_text(text, val_text, vocab, start is not None, seq_len, batch_size)
    # Where a saved pass may be continued: the same text cut the same way.
    data_key = f"{batch_size}x{seq_len}:" + hashlib.sha256(ids.tobytes()).hexdigest()[:16]

    n_x = vocab.size
    flat = np.zeros(_flat_size(n_x, n_a, cell), dtype)
    gflat = np.zeros_like(flat)
    P = _flat_views(flat, n_x, n_a, cell)
    opt = _Optimizer(optimizer, lr, flat)
    h = np.zeros((batch_size, _state_size(cell, n_a)), dtype)
    if start is None:
        rng = np.random.default_rng(seed)
        if cell == "rnn":
            # weights uniform on [-1/sqrt(n_a), 1/sqrt(n_a)) as in PyTorch's nn.RNN; biases 0
            init = init_params(
                n_x, n_a, n_x, rng, scale=1 / np.sqrt(n_a), dtype=dtype, distribution="uniform"
            )
        else:
            init = _init_gated_params(cell, n_x, n_a, rng, dtype)
        _from_course_layout(init, P, cell)
    else:
        _from_course_layout(start.params, P, cell)
        rng = np.random.default_rng(seed)
    reader = _StreamReader(ids, batch_size, seq_len, rng, h)
    if state is not None:
        opt.step = state["step"]
        _from_course_layout(state["m1"], _flat_views(opt.moment1, n_x, n_a, cell), cell)
        _from_course_layout(state["m2"], _flat_views(opt.moment2, n_x, n_a, cell), cell)
        rng.bit_generator.state = state["rng"]
        if state["data"] == data_key and state["offset"] is not None:
            reader.start_at(state["offset"], state["chunk"])
            h[...] = state["a"].T
    last_good = flat.copy()
    parts = min(threads, batch_size)
    limit = math.inf if explode_factor is None else explode_factor * max(math.log(n_x), math.log(2))

    history = {
        "train_loss": [],
        "val_step": [],
        "val_loss": [],
        "interrupted": False,
        "stopped_early": False,
        "resumed_from_step": opt.step,
        "cell": cell,
        "threads": parts,
        "blas_threads": blas_threads,
    }

    def snapshot(buffer, train_state=None):
        model = CharModel(vocab, _to_course_layout(_flat_views(buffer, n_x, n_a, cell), cell), cell)
        model.train_state = train_state
        return model

    def capture_state():
        """The training state now: what resuming needs to continue exactly."""
        return {
            "optimizer": opt.name,
            "step": opt.step,
            "m1": _to_course_layout(_flat_views(opt.moment1, n_x, n_a, cell), cell),
            "m2": _to_course_layout(_flat_views(opt.moment2, n_x, n_a, cell), cell),
            "a": h.T.copy(),
            "rng": rng.bit_generator.state,
            "offset": reader.offset,
            "chunk": reader.chunk,
            "data": data_key,
        }

    held_out = _HeldOut(val_text, eval_every, keep_best, patience, history)
    show_best = keep_best or patience is not None
    reporter = _Progress("bar" if progress == "bar" else ("lines" if progress else None), steps, seconds)
    start_time = time.perf_counter()

    def train_seconds():
        return time.perf_counter() - start_time - held_out.seconds

    def report(step, force=False):
        reporter.update(
            step,
            train_seconds(),
            chars,
            history["train_loss"][-1],
            history["val_loss"][-1] if history["val_loss"] else None,
            best=(held_out.best_step, held_out.best_loss)
            if show_best and held_out.best_step is not None
            else None,
            eval_cost=held_out.last_cost if history["val_loss"] else None,
            force=force,
        )

    step, chars = 0, 0
    if keep_best:  # the model we start from is a candidate too (it matters when resuming)
        held_out.score(0, snapshot(flat), flat, 0.0, capture_state)
    pool = ThreadPoolExecutor(max_workers=parts, thread_name_prefix="train_char_model") if parts > 1 else None
    split_step = _SplitStep(n_x, n_a, seq_len, batch_size, parts, dtype, pool, cell)
    try:
        # A diverging run overflows on its way to the loss check: that check,
        # not a numpy warning, is what tells the user.
        with _blas_threads(blas_threads), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            while True:
                elapsed = time.perf_counter() - start_time
                if (steps is not None and step >= steps) or (seconds is not None and elapsed >= seconds):
                    break
                X, Y = reader.next_chunk()
                loss = split_step(P, gflat, X, Y, h)
                if not (math.isfinite(loss) and loss <= limit):
                    history["seconds"] = time.perf_counter() - start_time
                    raise _diverged(
                        loss, limit, explode_factor, lr, n_x, step, history, held_out, snapshot, last_good
                    )
                last_good[...] = flat
                if clip_norm is not None:
                    clip_gradients({"all": gflat}, max_norm=clip_norm, inplace=True)
                opt.update(flat, gflat)
                step += 1
                chars += seq_len * batch_size
                history["train_loss"].append(loss)
                if held_out.due(step, steps, train_seconds()):
                    held_out.score(step, snapshot(flat), flat, train_seconds(), capture_state)
                if callback is not None:
                    callback(step, loss)
                report(step)
                if held_out.out_of_patience:
                    history["stopped_early"] = True
                    break
    except KeyboardInterrupt:
        history["interrupted"] = True
        print(f"\nTraining interrupted at step {step}: keeping the model trained so far.")
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    if val_text is not None and step > 0 and (not history["val_step"] or history["val_step"][-1] != step):
        held_out.score(step, snapshot(flat), flat, train_seconds(), capture_state)
    elapsed = time.perf_counter() - start_time
    train_time = elapsed - held_out.seconds  # throughput counts training only
    history.update(
        steps=step,
        seconds=elapsed,
        chars=chars,
        chars_per_second=chars / train_time if train_time > 0 else 0.0,
    )
    if held_out.best_step is not None:
        history.update(best_step=held_out.best_step, best_val_loss=held_out.best_loss)
    if keep_best:
        model, history["model_step"] = snapshot(held_out.best_flat, held_out.best_state), held_out.best_step
    else:
        model, history["model_step"] = snapshot(flat, capture_state()), step
    if step:
        report(step, force=True)
    return model, history


def _diverged(loss, limit, explode_factor, lr, n_x, step, history, held_out, snapshot, last_good):
    """The :class:`TrainingDiverged` to raise when the loss at update ``step + 1`` is bad."""
    import math

    if keep_best := held_out.best_flat is not None:
        model, history["model_step"] = snapshot(held_out.best_flat, held_out.best_state), held_out.best_step
        history.update(best_step=held_out.best_step, best_val_loss=held_out.best_loss)
    else:
        # last_good holds the weights before the last update: those of step - 1
        # (at step 0, the starting weights, which are the bad ones themselves).
        model, history["model_step"] = snapshot(last_good), max(step - 1, 0)
    if not math.isfinite(loss):
        why = f"the training loss became non-finite ({loss})"
    else:
        why = (
            f"the training loss exploded to {loss:.4g} nats/char, above {limit:.3g} = "
            f"{explode_factor:g} ln V (V = {n_x}; uniform guessing scores ln V = {math.log(n_x):.3f})"
        )
    kept = "the best model by held-out loss" if keep_best else "the last model whose loss was fine"
    return TrainingDiverged(
        f"training diverged at step {step + 1}: {why}; lr = {lr:g} may be too high. "
        f"{kept.capitalize()}, from step {history['model_step']}, is kept as .model",
        model,
        history,
    )


# ---------------------------------------------------------------------------
# Command line: python -m char_trainer train FILE / sample MODEL
# ---------------------------------------------------------------------------


def _eval_every_arg(value):
    """argparse type of --eval-every: "auto" or a positive number of steps."""
    import argparse

    if value == "auto":
        return value
    try:
        steps = int(value)
    except ValueError:
        steps = 0
    if steps < 1:
        raise argparse.ArgumentTypeError(f"must be 'auto' or a positive number of steps; got {value!r}")
    return steps


def _read_training_text(args, vocab):
    """The file's text, split into (training text, held-out text or None);
    ``vocab``: the resumed model's, or None."""
    import sys

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
        known = set(train_text) if vocab is None else set(vocab.chars)
        unknown = sorted(set(val_text) - known)
        if unknown:  # score only what the model can know
            print(
                f"note: held-out text has characters absent from training, dropped for scoring: {unknown!r}",
                file=sys.stderr,
            )
            val_text = "".join(c for c in val_text if c not in unknown)
        if len(val_text) < 2:
            val_text = None
    return train_text, val_text


def _train_command(args):
    """``python -m char_trainer train``: returns the exit code."""
    import sys

    # Check everything that can be checked before spending minutes on training.
    check_save_path(args.save)
    if args.patience < 0:
        raise ValueError(
            f"--patience must be a number of scores >= 0 (0: never stop early); got {args.patience}"
        )
    start = load_char_model(args.resume) if args.resume is not None else None
    train_text, val_text = _read_training_text(args, start.vocab if start is not None else None)
    seconds = args.seconds if args.seconds is not None or args.steps is not None else 60.0
    print(
        f"training on {len(train_text):,} characters ({len(set(train_text))} distinct), "
        f"holding out {len(val_text or ''):,}"
        + (
            f"; resuming from {args.resume} ({start.cell}, {start.n_a} hidden units)"
            if start is not None
            else ""
        ),
        file=sys.stderr,
    )
    scored = val_text is not None
    try:
        model, history = train_char_model(
            train_text,
            cell=args.cell,
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
            eval_every=args.eval_every,
            keep_best=scored,
            patience=(args.patience or None) if scored else None,
            explode_factor=EXPLODING_LOSS_FACTOR,
            resume=start,
            progress="bar",
        )
    except TrainingDiverged as exc:
        # Save only a model that a held-out score chose, and only if it is not
        # the one training started from: never a diverged or unscored one.
        step = exc.history["model_step"]
        if scored and step > 0:
            exc.model.save(args.save)
            saved = (
                f"saved the best model so far, from step {step} "
                f"(held-out loss {exc.history['best_val_loss']:.3f}), to {args.save}"
            )
        else:
            saved = f"nothing was saved ({args.save} is as it was)"
        print(f"error: {exc.args[0].split('. ')[0]}. {saved}; try a lower --lr.", file=sys.stderr)
        return 2
    model.save(args.save)
    recent = history["train_loss"][-100:]
    print(f"{history['steps']} steps, {history['chars_per_second'] / 1e3:.0f}k characters per second")
    print(f"training loss (last {len(recent)} steps) {np.mean(recent):.3f} nats/char")
    if scored:
        n_scores = len(history["val_loss"])
        print(
            f"held-out loss {history['best_val_loss']:.3f} nats/char "
            f"(perplexity {np.exp(history['best_val_loss']):.1f}) at step {history['model_step']}, "
            f"the best of {n_scores} scores (the last {history['val_loss'][-1]:.3f}); that model is saved"
        )
        if history["stopped_early"]:
            print(f"stopped early: no better held-out loss in the last {args.patience} scores")
    print(f"saved {args.save}; try: python -m char_trainer sample {args.save} --n 500")
    return 0


def main(argv=None):
    """``python -m char_trainer train FILE ...`` and ``python -m char_trainer sample MODEL ...``."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog="python -m char_trainer",
        description="Train a character-level language model (tanh RNN, GRU or LSTM) on a text file, "
        "or sample from one.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train a model on a UTF-8 text file")
    train.add_argument("file", type=Path, help="the training text")
    train.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="wall time to train for at most (default 60 unless --steps)",
    )
    train.add_argument("--steps", type=int, default=None, help="number of updates to train for at most")
    train.add_argument(
        "--cell",
        choices=CELLS,
        default=None,
        help="the recurrent cell: rnn (tanh RNN), gru or lstm (default rnn, or the resumed model's)",
    )
    train.add_argument(
        "--n-a", type=int, default=None, help="hidden units (default 100, or the resumed model's)"
    )
    train.add_argument(
        "--seq-len", type=int, default=50, help="characters per truncated-BPTT chunk (default 50)"
    )
    train.add_argument("--batch-size", type=int, default=64, help="streams read side by side (default 64)")
    train.add_argument("--lr", type=float, default=3e-3, help="learning rate (default 0.003)")
    train.add_argument(
        "--optimizer",
        choices=["adam", "adagrad", "sgd"],
        default=None,
        help="update rule (default adam, or the resumed run's)",
    )
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
    train.add_argument(
        "--eval-every",
        type=_eval_every_arg,
        default="auto",
        help="score the held-out text every this many steps; 'auto' (default): as often as costs "
        "at most about a tenth of the time, and at least every 0.5 s of training",
    )
    train.add_argument(
        "--patience",
        type=int,
        default=10,
        help="stop after this many held-out scores in a row without a new best (default 10; 0: never)",
    )
    train.add_argument(
        "--resume",
        type=Path,
        default=None,
        help="a model saved by train to continue from: its weights, vocabulary and optimizer state",
    )
    train.add_argument("--seed", type=int, default=0)
    train.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads; the batch is split between them, each with single-threaded BLAS (default: one "
        f"per core, at most one per {MIN_STREAMS_PER_THREAD} streams and {MAX_THREADS} in all; an unsplit "
        f"batch lets BLAS use up to {MAX_BLAS_THREADS} cores)",
    )
    train.add_argument(
        "--save",
        type=Path,
        default=Path("model.npz"),
        help="where to write the model with the best held-out loss (default model.npz)",
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
        return _train_command(args)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
