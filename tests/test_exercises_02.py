"""Notebook 2's exercise checks, fed the solutions and typical wrong answers.

Each check must print PASS for a right answer and, for a plausible mistake,
FAIL with the hint that names that mistake (see tests/notebook_exercises.py).
"""

import numpy as np
import pytest

import rnn_utils
from tests.notebook_exercises import load_checks, run_check

checks = load_checks("02_forward_pass.ipynb")
softmax = rnn_utils.softmax


# --- Exercise A: rnn_cell_forward -------------------------------------------------


def cell(
    xt,
    a_prev,
    p,
    *,
    ba=True,
    by=True,
    swap=False,
    waa_t=False,
    xt_for_a=False,
    tanh=True,
    axis=0,
    y_from_prev=False,
):
    """rnn_cell_forward with the mistakes switched on by keyword."""
    Waa, Wax = (p["Wax"], p["Waa"]) if swap else (p["Waa"], p["Wax"])
    Waa = Waa.T if waa_t else Waa
    z = Waa @ (xt if xt_for_a else a_prev) + Wax @ xt + (p["ba"] if ba else 0)
    a_next = np.tanh(z) if tanh else z
    a_y = a_prev if y_from_prev else a_next
    return a_next, softmax(p["Wya"] @ a_y + (p["by"] if by else 0), axis=axis)


def right_cell(xt, a_prev, p):
    return cell(xt, a_prev, p)


def test_cell_check_passes_the_solution_and_reports_the_stub():
    assert run_check(checks["check_rnn_cell_forward"], right_cell).startswith("PASS")

    def stub(xt, a_prev, p):
        raise NotImplementedError

    assert (
        run_check(checks["check_rnn_cell_forward"], stub).strip() == "rnn_cell_forward: not implemented yet"
    )


@pytest.mark.parametrize(
    "mistake, hint",
    [
        (dict(ba=False), "missing its bias: tanh(W_aa a_prev + W_ax xt + b_a)"),
        (dict(by=False), "yt_hat is missing its bias"),
        (dict(swap=True), "W_aa and W_ax are swapped"),
        (dict(waa_t=True), "W_aa is used transposed"),
        (dict(xt_for_a=True), "W_aa multiplied xt"),
        (dict(tanh=False), "apply g1 = np.tanh"),
        (dict(axis=1), "the softmax ran over axis 1"),
        (dict(y_from_prev=True), "yt_hat was made from a_prev"),
    ],
)
def test_cell_check_names_each_mistake(mistake, hint):
    out = run_check(checks["check_rnn_cell_forward"], lambda xt, a_prev, p: cell(xt, a_prev, p, **mistake))
    assert out.startswith("FAIL") and "Hint:" in out and hint in out, out


def test_cell_check_catches_swapped_weights_that_do_not_fit():
    # On the example by hand n_x != n_a, so swapped weights raise instead of running.
    def swapped_strict(xt, a_prev, p):
        if p["Waa"].shape[1] != p["Wax"].shape[1]:
            return cell(xt, a_prev, p, swap=True)
        return right_cell(xt, a_prev, p)

    out = run_check(checks["check_rnn_cell_forward"], swapped_strict)
    assert out.startswith("FAIL") and "are the two weights swapped?" in out, out


def test_cell_check_catches_wrong_return_and_shapes():
    out = run_check(
        checks["check_rnn_cell_forward"], lambda xt, a_prev, p: rnn_utils.rnn_cell_forward(xt, a_prev, p)
    )
    assert "should return a pair" in out and "return a_next, yt_hat" in out
    out = run_check(
        checks["check_rnn_cell_forward"], lambda xt, a_prev, p: tuple(v.T for v in right_cell(xt, a_prev, p))
    )
    assert out.startswith("FAIL") and "should have shape (n_a, m)" in out and "one column per example" in out


def test_cell_check_compares_with_the_step_by_hand():
    # A cell that is right on the random batch but hard-codes a shape fails on the example by hand.
    def no_broadcast(xt, a_prev, p):
        if xt.shape[1] == 1:
            return np.zeros((2, 1)), np.full((3, 1), 1 / 3)
        return right_cell(xt, a_prev, p)

    out = run_check(checks["check_rnn_cell_forward"], no_broadcast)
    assert out.startswith("FAIL: a<1> of the example by hand"), out


# --- Exercise B: rnn_forward ------------------------------------------------------


def loop(x, a0, p, *, from_a0=False, store_prev=False, steps=None, layout=None, y_too=True):
    """rnn_forward with the mistakes switched on by keyword."""
    _, m, T_x = x.shape
    a = np.zeros((p["Waa"].shape[0], m, T_x))
    y = np.zeros((p["Wya"].shape[0], m, T_x))
    a_prev = a0
    for t in range(T_x if steps is None else steps):
        a_next, y_t = right_cell(x[:, :, t], a0 if from_a0 else a_prev, p)
        a[:, :, t] = a_prev if store_prev else a_next
        if y_too:
            y[:, :, t] = y_t
        a_prev = a_next
    if layout == "time first":
        return a.transpose(2, 0, 1), y.transpose(2, 0, 1)
    if layout == "last only":
        return a[:, :, -1], y[:, :, -1]
    return a, y


def test_loop_check_passes_the_solution_and_reports_the_stub():
    assert run_check(checks["check_rnn_forward"], loop).startswith("PASS")

    def stub(x, a0, p):
        raise NotImplementedError

    assert run_check(checks["check_rnn_forward"], stub).strip() == "rnn_forward: not implemented yet"


@pytest.mark.parametrize(
    "mistake, hint",
    [
        (dict(from_a0=True), "every step started from a0"),
        (dict(store_prev=True), "a[:, :, t] holds the state before step t"),
        (dict(steps=-1), "the last step is missing"),
        (dict(layout="time first"), "the axes are in the wrong order"),
        (dict(layout="last only"), "return all T_x of them"),
        (dict(y_too=False), "store the step's output too"),
    ],
)
def test_loop_check_names_each_mistake(mistake, hint):
    def wrong(x, a0, p):
        kw = dict(mistake)
        if kw.get("steps") == -1:
            kw["steps"] = x.shape[2] - 1
        return loop(x, a0, p, **kw)

    out = run_check(checks["check_rnn_forward"], wrong)
    assert out.startswith("FAIL") and "Hint:" in out and hint in out, out


# --- Exercise C: last_states ------------------------------------------------------


def right_last(a, mask):
    lengths = mask.sum(axis=1).astype(int)
    return a[:, np.arange(a.shape[1]), lengths - 1]


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda a, mask: a[:, :, -1], "this is a<T_x>, the state after the padding"),
        (lambda a, mask: a[:, np.arange(a.shape[1]), mask.sum(axis=1) - 1], "index with integers"),
        (lambda a, mask: a[:, np.arange(a.shape[1]), mask.sum(axis=1).astype(int)], "off by one"),
        (
            lambda a, mask: a[:, np.arange(a.shape[1]), mask.sum(axis=0).astype(int) - 1],
            "mask.sum(axis=1), not axis=0",
        ),
        (lambda a, mask: right_last(a, mask).T, "one column per example"),
    ],
)
def test_last_states_check(wrong, hint):
    assert run_check(checks["check_last_states"], right_last).startswith("PASS")
    out = run_check(checks["check_last_states"], wrong)
    assert out.startswith("FAIL") and "Hint:" in out and hint in out, out


def test_last_states_check_catches_one_step_late_without_an_error():
    def late(a, mask):  # clipped at the end, so it never raises
        lengths = np.minimum(mask.sum(axis=1).astype(int), a.shape[2] - 1)
        return a[:, np.arange(a.shape[1]), lengths]

    out = run_check(checks["check_last_states"], late)
    assert out.startswith("FAIL: one step too late"), out


# --- Exercise 1: masked_rnn_forward -----------------------------------------------


def masked(x, mask, a0, p, *, hold=True, zero=False, bad_real=False):
    _, m, T_x = x.shape
    a = np.zeros((p["Waa"].shape[0], m, T_x))
    a_prev = a0
    for t in range(T_x):
        a_new, _ = right_cell(x[:, :, t], a0 if bad_real else a_prev, p)
        keep = mask[:, t]
        if zero:
            a_prev = keep * a_new
        elif hold:
            a_prev = keep * a_new + (1 - keep) * a_prev
        else:
            a_prev = a_new
        a[:, :, t] = a_prev
    return a


@pytest.mark.parametrize(
    "mistake, hint",
    [
        (dict(hold=False), "the state still changes at padded steps"),
        (dict(zero=True), "the padded steps are set to 0"),
        (dict(bad_real=True), "the real steps differ"),
    ],
)
def test_masked_forward_check(mistake, hint):
    assert run_check(checks["check_masked_rnn_forward"], masked).startswith("PASS")
    out = run_check(
        checks["check_masked_rnn_forward"], lambda x, mask, a0, p: masked(x, mask, a0, p, **mistake)
    )
    assert out.startswith("FAIL") and "Hint:" in out and hint in out, out


def test_masked_forward_check_reports_the_stub_and_a_wrong_mask_index():
    def stub(x, mask, a0, p):
        raise NotImplementedError

    assert (
        run_check(checks["check_masked_rnn_forward"], stub).strip()
        == "masked_rnn_forward: not implemented yet"
    )

    def row_not_column(x, mask, a0, p):  # mask[t] is example t, not step t
        return masked(x, mask.T, a0, p)

    out = run_check(checks["check_masked_rnn_forward"], row_not_column)
    assert out.startswith("FAIL") and "mask[:, t] is step t of every example" in out, out
