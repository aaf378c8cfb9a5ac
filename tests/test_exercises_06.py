"""Notebook 6's exercise checks, fed the mistakes a learner is likely to make.

Each wrong answer below is a plausible slip in the LSTM cell's forward or
backward step; the check must print FAIL with the hint that names it, and
PASS for a right answer (``rnn_utils``' own functions).
"""

import numpy as np
import pytest
from notebook_exercises import load_checks, run_check

import rnn_utils

CHECKS = load_checks("06_gated_cells.ipynb")
sigmoid, softmax = rnn_utils.sigmoid, rnn_utils.softmax


def make_forward(
    stack_input_first=False, tanh_of_c_prev=False, without_output_gate=False, forget_old_memory=False
):
    """An LSTM cell forward pass with one of the typical mistakes switched on."""

    def forward(xt, a_prev, c_prev, p):
        concat = np.concatenate([xt, a_prev] if stack_input_first else [a_prev, xt])
        gf = sigmoid(p["Wf"] @ concat + p["bf"])
        gi = sigmoid(p["Wi"] @ concat + p["bi"])
        cc = np.tanh(p["Wc"] @ concat + p["bc"])
        go = sigmoid(p["Wo"] @ concat + p["bo"])
        c_next = gi * cc if forget_old_memory else gf * c_prev + gi * cc
        a_next = np.tanh(c_prev if tanh_of_c_prev else c_next)
        if not without_output_gate:
            a_next = go * a_next
        yt_hat = softmax(p["Wy"] @ a_next + p["by"])
        cache = {"xt": xt, "a_prev": a_prev, "c_prev": c_prev, "concat": concat, "gf": gf, "gi": gi, "cc": cc}
        cache.update(go=go, a_next=a_next, c_next=c_next, params=p)
        return a_next, c_next, yt_hat, cache

    return forward


def make_backward(no_tanh_path=False, no_forget_in_dc_prev=False, tanh_of_c_prev=False, swap_split=False):
    """An LSTM cell backward step with one of the typical mistakes switched on."""

    def backward(da_next, dc_next, cache):
        p, gf, gi, cc, go = cache["params"], cache["gf"], cache["gi"], cache["cc"], cache["go"]
        n_a, n_x = gf.shape[0], cache["xt"].shape[0]
        tanh_c = np.tanh(cache["c_next"])
        dc = dc_next if no_tanh_path else dc_next + da_next * go * (1 - tanh_c**2)
        shown = np.tanh(cache["c_prev"]) if tanh_of_c_prev else tanh_c
        dz = {
            "f": dc * cache["c_prev"] * gf * (1 - gf),
            "i": dc * cc * gi * (1 - gi),
            "c": dc * gi * (1 - cc**2),
            "o": da_next * shown * go * (1 - go),
        }
        d_concat = sum(p["W" + g].T @ dz[g] for g in "fico")
        if swap_split:  # xt's rows taken from the top of [a_prev; xt]: the right shapes, the wrong rows
            dxt, da_prev = d_concat[:n_x], d_concat[n_x:]
        else:
            dxt, da_prev = d_concat[n_a:], d_concat[:n_a]
        grads = {"dxt": dxt, "da_prev": da_prev, "dc_prev": dc if no_forget_in_dc_prev else dc * gf}
        for g in "fico":
            grads["dW" + g] = dz[g] @ cache["concat"].T
            grads["db" + g] = dz[g].sum(axis=1, keepdims=True)
        return grads

    return backward


def not_implemented(*args):
    raise NotImplementedError


def test_forward_check_passes_the_library_and_a_correct_answer():
    for fn in (lambda *a: rnn_utils.lstm_cell_forward(*a), make_forward()):
        out = run_check(CHECKS["check_lstm_cell_forward"], fn)
        assert out.startswith("PASS"), out


def test_forward_check_reports_a_stub():
    assert run_check(CHECKS["check_lstm_cell_forward"], not_implemented).strip() == (
        "lstm_cell_forward: not implemented yet"
    )


@pytest.mark.parametrize(
    "mistake, hint",
    [
        ({"stack_input_first": True}, "[a_prev; xt], not [xt; a_prev]"),
        ({"tanh_of_c_prev": True}, "not tanh(c_prev)"),
        ({"without_output_gate": True}, "output gate Γ_o is missing"),
        ({"forget_old_memory": True}, "the old memory, kept by the forget gate, is missing"),
    ],
)
def test_forward_check_names_the_mistake(mistake, hint):
    out = run_check(CHECKS["check_lstm_cell_forward"], make_forward(**mistake))
    assert out.startswith("FAIL") and "Hint:" in out, out
    assert hint in out, out


def test_forward_check_asks_for_the_cache_keys():
    def without_cache(*args):
        a_next, c_next, yt_hat, _ = rnn_utils.lstm_cell_forward(*args)
        return a_next, c_next, yt_hat, {}

    out = run_check(CHECKS["check_lstm_cell_forward"], without_cache)
    assert out.startswith("FAIL: the cache lacks xt") and "Hint: return a dict with the keys" in out, out


def test_forward_check_refuses_a_wrong_number_of_results():
    out = run_check(CHECKS["check_lstm_cell_forward"], lambda *a: rnn_utils.lstm_cell_forward(*a)[:3])
    assert out.startswith("FAIL: return four things"), out


def test_backward_check_passes_the_library_and_a_correct_answer():
    for fn in (rnn_utils.lstm_cell_backward, make_backward()):
        out = run_check(CHECKS["check_lstm_cell_backward"], fn)
        assert out.startswith("PASS"), out


def test_backward_check_reports_a_stub():
    assert run_check(CHECKS["check_lstm_cell_backward"], not_implemented).strip() == (
        "lstm_cell_backward: not implemented yet"
    )


@pytest.mark.parametrize(
    "mistake, wrong, hint",
    [
        ({"no_tanh_path": True}, "dc_prev, dWf", "the path from a_next into the memory is missing"),
        ({"no_forget_in_dc_prev": True}, "wrong gradient for dc_prev.", "dc_prev = dc * gf"),
        ({"tanh_of_c_prev": True}, "dWo, dbo", "dΓ_o = da_next * tanh(c_next) (the new memory, not c_prev)"),
        ({"swap_split": True}, "dxt, da_prev.", "its top n_a rows are da_prev"),
    ],
)
def test_backward_check_names_the_mistake(mistake, wrong, hint):
    out = run_check(CHECKS["check_lstm_cell_backward"], make_backward(**mistake))
    assert out.startswith("FAIL: wrong gradient for") and "Hint:" in out, out
    assert wrong in out and hint in out, out


def test_backward_check_asks_for_every_gradient():
    def missing_dc_prev(da_next, dc_next, cache):
        grads = rnn_utils.lstm_cell_backward(da_next, dc_next, cache)
        del grads["dc_prev"]
        return grads

    out = run_check(CHECKS["check_lstm_cell_backward"], missing_dc_prev)
    assert out.startswith("FAIL: missing or misshapen gradients: dc_prev"), out


def test_backward_check_catches_transposed_weight_gradients():
    def transposed(da_next, dc_next, cache):
        grads = rnn_utils.lstm_cell_backward(da_next, dc_next, cache)
        grads["dWf"] = grads["dWf"].T
        return grads

    out = run_check(CHECKS["check_lstm_cell_backward"], transposed)
    assert out.startswith("FAIL: missing or misshapen gradients: dWf"), out
