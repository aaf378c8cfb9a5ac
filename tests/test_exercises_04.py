"""Notebook 4's exercise checks, fed typical wrong answers.

Each check must say FAIL and name the likely mistake in its hint; the right
answer (rnn_utils' own functions) must pass, and the notebook's stub must
read as "not implemented yet".
"""

import numpy as np
import pytest

import rnn_utils
from tests.notebook_exercises import load_checks, run_check

NOTEBOOK = "04_backprop_through_time.ipynb"


@pytest.fixture(scope="module")
def checks():
    return load_checks(NOTEBOOK)


def not_implemented(*args):
    raise NotImplementedError


# ---------- exercise 1: rnn_cell_backward


def cell_backward(gprime=None, **replace):
    """A backward step that is right except for what is given: ``gprime(a_next, a_prev, g1)`` replaces g1'(z),
    and each ``replace[key](dz, a_next, a_prev, xt, p)`` replaces one returned gradient."""

    def fn(da_next, cache):
        a_next, a_prev, xt, p = cache["a_next"], cache["a_prev"], cache["xt"], cache["params"]
        if gprime is None:
            dz = da_next * ((1 - a_next**2) if cache["g1"] == "tanh" else (a_next > 0))
        else:
            dz = da_next * gprime(a_next, a_prev, cache["g1"])
        out = {
            "dxt": p["Wax"].T @ dz,
            "da_prev": p["Waa"].T @ dz,
            "dWax": dz @ xt.T,
            "dWaa": dz @ a_prev.T,
            "dba": dz.sum(axis=1, keepdims=True),
        }
        for key, make in replace.items():
            out[key] = make(dz, a_next, a_prev, xt, p)
        return out

    return fn


CELL_MISTAKES = {
    "no tanh derivative": (cell_backward(gprime=lambda an, ap, g1: 1.0), "derivative of g1 is missing"),
    "1 - a^2 of the previous step": (
        cell_backward(gprime=lambda an, ap, g1: 1 - ap**2),
        "must use this step's output a_next",
    ),
    "tanh derivative on a ReLU cell": (
        cell_backward(gprime=lambda an, ap, g1: 1 - an**2),
        "a ReLU cell needs ReLU's derivative",
    ),
    "ReLU derivative on a tanh cell": (
        cell_backward(gprime=lambda an, ap, g1: (an > 0).astype(float)),
        "a tanh cell needs tanh's derivative",
    ),
    "dWaa = a_prev dz^T": (
        cell_backward(dWaa=lambda dz, an, ap, xt, p: ap @ dz.T),
        "dW_aa = dz a_prev^T",
    ),
    "dWax = xt dz^T": (cell_backward(dWax=lambda dz, an, ap, xt, p: xt @ dz.T), "x<t> dz^T is its transpose"),
    "dxt = dz^T Wax": (cell_backward(dxt=lambda dz, an, ap, xt, p: dz.T @ p["Wax"]), "dx<t> = W_ax^T dz"),
    "da_prev = Waa dz": (
        cell_backward(da_prev=lambda dz, an, ap, xt, p: p["Waa"] @ dz),
        "the transpose of W_aa",
    ),
    "db without keepdims": (cell_backward(dba=lambda dz, an, ap, xt, p: dz.sum(axis=1)), "keepdims=True"),
    "db not summed over the batch": (cell_backward(dba=lambda dz, an, ap, xt, p: dz), "the batch axis"),
    "db summed over the units": (
        cell_backward(dba=lambda dz, an, ap, xt, p: dz.sum(axis=0, keepdims=True)),
        "the batch axis",
    ),
}


@pytest.mark.parametrize("mistake", CELL_MISTAKES)
def test_cell_check_names_the_mistake(checks, mistake):
    fn, hint = CELL_MISTAKES[mistake]
    out = run_check(checks["check_rnn_cell_backward"], fn)
    assert "FAIL" in out and "Hint:" in out and hint in out, out


def test_cell_check_reports_an_error_raised_by_a_matrix_product_in_place_of_the_element_wise_one(checks):
    def fn(da_next, cache):
        dz = da_next @ (1 - cache["a_next"] ** 2)  # (n_a, m) @ (n_a, m): the shapes do not fit
        return {"dxt": dz, "da_prev": dz, "dWax": dz, "dWaa": dz, "dba": dz}

    out = run_check(checks["check_rnn_cell_backward"], fn)
    assert "FAIL" in out and "raised ValueError" in out and "element-wise (*)" in out, out


def test_cell_check_asks_for_every_key(checks):
    def fn(da_next, cache):
        out = rnn_utils.rnn_cell_backward(da_next, cache)
        del out["dba"]
        return out

    out = run_check(checks["check_rnn_cell_backward"], fn)
    assert "FAIL" in out and "dba" in out, out


def test_cell_check_passes_the_right_answer_and_waits_for_the_stub(checks):
    assert "PASS" in run_check(checks["check_rnn_cell_backward"], rnn_utils.rnn_cell_backward)
    assert run_check(checks["check_rnn_cell_backward"], not_implemented).strip() == (
        "rnn_cell_backward: not implemented yet"
    )


# ---------- exercise 2: rnn_backward


def bptt(order="backward", recurrent=True, accumulate=True, da0_from=None):
    """The BPTT loop, written independently of the notebook, with one mistake switched on."""

    def fn(da, caches):
        step_caches, x = caches
        n_x, m, T_x = x.shape
        p = step_caches[0]["params"]
        grads = {k: np.zeros_like(p[k[1:]]) for k in ("dWax", "dWaa", "dba")}
        dx, da_next = np.zeros((n_x, m, T_x)), np.zeros(da.shape[:2])
        for t in reversed(range(T_x)) if order == "backward" else range(T_x):
            step = rnn_utils.rnn_cell_backward(da[:, :, t] + (da_next if recurrent else 0), step_caches[t])
            dx[:, :, t] = step["dxt"]
            da_next = step["da_prev"]
            for k in grads:
                grads[k] = grads[k] + step[k] if accumulate else step[k]
        return {"dx": dx, "da0": da_next if da0_from is None else da0_from(da), **grads}

    return fn


BPTT_MISTAKES = {
    "recurrent path dropped": (bptt(recurrent=False), "the recurrent path is missing"),
    "loop run forwards": (bptt(order="forward"), "must run backwards in time"),
    "weight gradients overwritten": (bptt(accumulate=False), "add every step's gradient to a running total"),
    "da0 from the wrong place": (
        bptt(da0_from=lambda da: da[:, :, 0]),
        "da0 is the da_prev of the first step",
    ),
}


@pytest.mark.parametrize("mistake", BPTT_MISTAKES)
def test_bptt_check_names_the_mistake(checks, mistake):
    fn, hint = BPTT_MISTAKES[mistake]
    out = run_check(checks["check_rnn_backward"], fn)
    assert "FAIL" in out and "Hint:" in out and hint in out, out


def test_bptt_check_reports_the_relative_error_of_the_dropped_path(checks):
    out = run_check(checks["check_rnn_backward"], bptt(recurrent=False))
    error = float(out.split("rel. error ")[1].split(" ")[0])
    assert error > 1e-2, out


def test_bptt_check_catches_a_wrong_shape(checks):
    def fn(da, caches):
        out = rnn_utils.rnn_backward(da, caches)
        out["dx"] = out["dx"][:, :, -1]
        return out

    out = run_check(checks["check_rnn_backward"], fn)
    assert "FAIL" in out and "dx has shape" in out and "dx[:, :, t]" in out, out


def test_bptt_check_passes_the_right_answer_and_waits_for_the_stub(checks):
    assert "PASS" in run_check(checks["check_rnn_backward"], rnn_utils.rnn_backward)
    assert (
        run_check(checks["check_rnn_backward"], not_implemented).strip()
        == "rnn_backward: not implemented yet"
    )


# ---------- exercise 3: many-to-one


def many_to_one(da_out_everywhere=False, dby_summed=True, mean=False):
    def fn(x, y, a0, params):
        a, _, caches = rnn_utils.rnn_forward(x, a0, params)
        a_T = a[:, :, -1]
        y_hat = rnn_utils.softmax(params["Wya"] @ a_T + params["by"])
        J = rnn_utils.cross_entropy(y_hat, y) / (y.shape[1] if mean else 1)
        dzy = y_hat - y
        da_out = np.zeros(a.shape)
        if da_out_everywhere:
            da_out[:] = (params["Wya"].T @ dzy)[:, :, None]
        else:
            da_out[:, :, -1] = params["Wya"].T @ dzy
        g = rnn_utils.rnn_backward(da_out, caches)
        dby = dzy.sum(axis=1, keepdims=True) if dby_summed else dzy
        grads = {k: g[k] for k in ("dWaa", "dWax", "dba", "da0")}
        return J, dict(grads, dWya=dzy @ a_T.T, dby=dby)

    return fn


M2O_MISTAKES = {
    "output gradient at every step": (
        many_to_one(da_out_everywhere=True),
        "da_out is zero except at the last step",
    ),
    "db_y not summed": (many_to_one(dby_summed=False), "db_y sums over the examples"),
    "J averaged": (many_to_one(mean=True), "summed (not averaged)"),
}


@pytest.mark.parametrize("mistake", M2O_MISTAKES)
def test_many_to_one_check_names_the_mistake(checks, mistake):
    fn, hint = M2O_MISTAKES[mistake]
    out = run_check(checks["check_many_to_one"], fn)
    assert "FAIL" in out and "Hint:" in out and hint in out, out


def test_many_to_one_check_passes_the_right_answer_and_waits_for_the_stub(checks):
    assert "PASS" in run_check(checks["check_many_to_one"], many_to_one())
    assert "not implemented yet" in run_check(checks["check_many_to_one"], not_implemented)
