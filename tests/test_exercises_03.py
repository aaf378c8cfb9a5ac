"""Notebook 3's exercise checks, fed typical wrong answers.

Each check must PASS the right answer and FAIL every wrong one with the hint
that names the mistake (see tests/notebook_exercises.py).
"""

import nbformat
import numpy as np
import pytest

import rnn_utils
from tests.notebook_exercises import CHECK_TAG, ROOT, load_checks, run_check

CHECKS = load_checks("03_loss.ipynb")


def test_check_cells_are_collapsed_and_warn_that_they_hold_the_answer():
    """The check cells compute the right answer, so they are collapsed, as in notebooks 1 and 2."""
    nb = nbformat.read(ROOT / "notebooks" / "03_loss.ipynb", as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and CHECK_TAG in c.metadata.get("tags", [])]
    assert [c.source.splitlines()[0] for c in cells] == [
        f"# @title Check code for Exercise {k} (run it; it contains the answer, so read it after trying)"
        for k in (1, 2)
    ]
    for cell in cells:
        assert cell.metadata.get("jupyter", {}).get("source_hidden") is True, cell.id
        assert cell.metadata.get("cellView") == "form", cell.id


# --- Exercise 1: masked_cross_entropy_from_logits(z, y, mask) ---------------------------------------------


def log_softmax(z, axis=0):
    M = z.max(axis=axis, keepdims=True)
    return z - M - np.log(np.sum(np.exp(z - M), axis=axis, keepdims=True))


def ce_right(z, y, mask):
    return float(np.sum(-np.sum(y * log_softmax(z), axis=0) * mask))


def ce_unmasked(z, y, mask):
    return float(np.sum(-np.sum(y * log_softmax(z), axis=0)))


def ce_wrong_sign(z, y, mask):
    return -ce_right(z, y, mask)


def ce_mean_per_real_step(z, y, mask):
    return ce_right(z, y, mask) / mask.sum()


def ce_mean_over_examples(z, y, mask):
    return ce_right(z, y, mask) / z.shape[1]


def ce_mean_over_all_steps(z, y, mask):
    return ce_right(z, y, mask) / mask.size


def ce_softmax_over_examples(z, y, mask):
    return float(np.sum(-np.sum(y * log_softmax(z, axis=1), axis=0) * mask))


def ce_softmax_over_time(z, y, mask):
    return float(np.sum(-np.sum(y * log_softmax(z, axis=2), axis=0) * mask))


def ce_naive(z, y, mask):
    p = np.exp(z) / np.sum(np.exp(z), axis=0, keepdims=True)  # e^1000 = inf
    return float(np.sum(-np.sum(y * np.log(p), axis=0) * mask))


def ce_log_of_stable_softmax(z, y, mask):
    return float(np.sum(-np.sum(y * np.log(rnn_utils.softmax(z)), axis=0) * mask))  # log 0 at +-1000


def ce_through_probabilities(z, y, mask):
    return rnn_utils.cross_entropy(rnn_utils.softmax(z), y, mask)  # clips log 0


def ce_global_max(z, y, mask):
    M = z.max()  # one max for the whole array, not one per column
    log_y_hat = z - M - np.log(np.sum(np.exp(z - M), axis=0, keepdims=True))
    return float(np.sum(-np.sum(y * log_y_hat, axis=0) * mask))


def ce_max_not_subtracted_from_z(z, y, mask):
    M = z.max(axis=0, keepdims=True)
    log_y_hat = z - np.log(np.sum(np.exp(z - M), axis=0, keepdims=True))
    return float(np.sum(-np.sum(y * log_y_hat, axis=0) * mask))


def ce_returns_step_losses(z, y, mask):
    return -np.sum(y * log_softmax(z), axis=0) * mask


def ce_raises(z, y, mask):
    raise ValueError("shapes do not match")


def ce_stub(z, y, mask):
    raise NotImplementedError


CE_MISTAKES = [
    (ce_unmasked, "padded steps are counted"),
    (ce_wrong_sign, "sign error"),
    (ce_mean_per_real_step, "mean per real step"),
    (ce_mean_over_examples, "mean over the m examples"),
    (ce_mean_over_all_steps, "mean over all m * T_y steps"),
    (ce_softmax_over_examples, "softmax runs over the wrong axis"),
    (ce_softmax_over_time, "softmax runs over the wrong axis"),
    (ce_naive, "computed naively overflows"),
    (ce_log_of_stable_softmax, "computed naively overflows"),
    (ce_global_max, "subtract the max of each column"),
    (ce_through_probabilities, "you went through the probabilities"),
    (ce_max_not_subtracted_from_z, "log softmax(z)_k = z_k - M - log sum_j exp(z_j - M)"),
    (ce_returns_step_losses, "expected one number"),
]


def test_masked_cross_entropy_check_passes_the_right_answer():
    out = run_check(CHECKS["check_masked_cross_entropy_from_logits"], ce_right)
    assert out.startswith("PASS")


def test_masked_cross_entropy_check_passes_rnn_utils():
    out = run_check(CHECKS["check_masked_cross_entropy_from_logits"], rnn_utils.cross_entropy_from_logits)
    assert out.startswith("PASS")


@pytest.mark.parametrize("wrong, hint", CE_MISTAKES, ids=[f.__name__ for f, _ in CE_MISTAKES])
def test_masked_cross_entropy_check_names_the_mistake(wrong, hint):
    out = run_check(CHECKS["check_masked_cross_entropy_from_logits"], wrong)
    assert out.startswith("FAIL") and "Hint:" in out, out
    assert hint in out, out


def test_masked_cross_entropy_check_reports_stub_and_errors():
    check = CHECKS["check_masked_cross_entropy_from_logits"]
    assert run_check(check, ce_stub).strip() == "masked_cross_entropy_from_logits: not implemented yet"
    assert run_check(check, ce_raises).startswith(
        "FAIL: your function raised ValueError: shapes do not match"
    )


# --- Exercise 2: binary_cross_entropy_from_logits(z, y, mask=None) ------------------------------------------


def bce_step_losses(z, y, swapped=False):
    if swapped:
        return np.sum(y * np.logaddexp(0, z) + (1 - y) * np.logaddexp(0, -z), axis=0)
    return np.sum(y * np.logaddexp(0, -z) + (1 - y) * np.logaddexp(0, z), axis=0)


def bce_right(z, y, mask=None):
    step = bce_step_losses(z, y)
    return float(np.sum(step * (np.ones(step.shape) if mask is None else mask)))


def bce_unmasked(z, y, mask=None):
    return float(np.sum(bce_step_losses(z, y)))


def bce_swapped(z, y, mask=None):
    step = bce_step_losses(z, y, swapped=True)
    return float(np.sum(step * (np.ones(step.shape) if mask is None else mask)))


def bce_wrong_sign(z, y, mask=None):
    return -bce_right(z, y, mask)


def bce_mean_per_real_step(z, y, mask=None):
    mask = np.ones(z.shape[1:]) if mask is None else mask
    return bce_right(z, y, mask) / mask.sum()


def bce_mean_over_all_steps(z, y, mask=None):
    return bce_right(z, y, mask) / np.prod(z.shape[1:])


def bce_naive(z, y, mask=None):
    mask = np.ones(z.shape[1:]) if mask is None else mask
    s = rnn_utils.sigmoid(z)
    return float(np.sum(np.sum(-y * np.log(s) - (1 - y) * np.log(1 - s), axis=0) * mask))


def bce_through_sigmoid(z, y, mask=None):
    return rnn_utils.binary_cross_entropy(rnn_utils.sigmoid(z), y, mask)


def bce_mask_required(z, y, mask):
    return bce_right(z, y, mask)


def bce_stub(z, y, mask=None):
    raise NotImplementedError


BCE_MISTAKES = [
    (bce_unmasked, "padded steps are counted"),
    (bce_swapped, "the two cases are swapped"),
    (bce_wrong_sign, "sign error"),
    (bce_mean_per_real_step, "mean per real step"),
    (bce_mean_over_all_steps, "mean over all m * T_y steps"),
    (bce_naive, "log(sigmoid(z)) is log 0 = -inf"),
    (bce_through_sigmoid, "you went through sigmoid(z)"),
    (bce_mask_required, "mask is optional; with mask=None every step is real"),
]


def test_bce_check_passes_the_right_answer():
    assert run_check(CHECKS["check_bce_from_logits"], bce_right).startswith("PASS")


@pytest.mark.parametrize("wrong, hint", BCE_MISTAKES, ids=[f.__name__ for f, _ in BCE_MISTAKES])
def test_bce_check_names_the_mistake(wrong, hint):
    out = run_check(CHECKS["check_bce_from_logits"], wrong)
    assert out.startswith("FAIL"), out
    assert hint in out, out


def test_bce_check_reports_the_stub():
    out = run_check(CHECKS["check_bce_from_logits"], bce_stub)
    assert out.strip() == "binary_cross_entropy_from_logits: not implemented yet"
