"""Notebook 5's exercise checks, fed typical wrong answers: each must FAIL with the hint for that mistake.

The checks live in the notebook's cells tagged ``exercise-check`` (see ``tests/notebook_exercises.py``):
``check_trigram_loss`` (exercise 1), ``check_train_rnn`` (exercise 2) and ``check_sample`` (exercise 3).
"""

import numpy as np
import pytest

import rnn_utils
from tests.notebook_exercises import load_checks, run_check


@pytest.fixture(scope="module")
def checks():
    return load_checks("05_character_model.ipynb")


def not_implemented(*args, **kwargs):
    raise NotImplementedError


# ---------------------------------------------------------------------------
# Exercise 1: trigram_loss
# ---------------------------------------------------------------------------


def trigram(train_ids, test_ids, V, alpha=1.0, mistake=None):
    counts = np.zeros((V, V, V))
    if mistake == "bigram counts":  # counts pairs (a, c) two apart: a plausible indexing slip
        np.add.at(counts, (train_ids[:-2], train_ids[:-2], train_ids[2:]), 1)
    else:
        np.add.at(counts, (train_ids[:-2], train_ids[1:-1], train_ids[2:]), 1)
    extra = alpha if mistake == "alpha once" else alpha * V
    probs = (counts + alpha) / (counts.sum(axis=2, keepdims=True) + extra)
    logp = np.log(probs[test_ids[:-2], test_ids[1:-1], test_ids[2:]])
    return float(-np.sum(logp)) if mistake == "sum" else float(-np.mean(logp))


def test_trigram_check_passes_the_solution_and_reports_the_stub(checks):
    assert run_check(checks["check_trigram_loss"], trigram).startswith("PASS")
    assert "not implemented yet" in run_check(checks["check_trigram_loss"], not_implemented)


@pytest.mark.parametrize(
    "mistake, hint",
    [
        ("sum", "return the mean of -ln P over test_ids[2:], not the sum"),
        ("alpha once", "n_ab + alpha * V, not n_ab + alpha"),
        ("bigram counts", "count every position t >= 2 of the training ids as the triple"),
    ],
)
def test_trigram_check_names_the_mistake(checks, mistake, hint):
    out = run_check(checks["check_trigram_loss"], lambda *a, **k: trigram(*a, **k, mistake=mistake))
    assert out.startswith("FAIL") and "Hint" in out and hint in out, out


def test_trigram_check_reports_an_exception(checks):
    def broken(train_ids, test_ids, V, alpha=1.0):
        return np.zeros((V, V))[train_ids[:-2], train_ids[1:-1], train_ids[2:]]  # IndexError

    assert "FAIL: your function raised IndexError" in run_check(checks["check_trigram_loss"], broken)


# ---------------------------------------------------------------------------
# Exercise 2: train_rnn
# ---------------------------------------------------------------------------


def make_train_rnn(mistake=None):
    """A learner's training loop, right or with one mistake; written apart from the notebook's reference."""

    def train_rnn(params, inputs, targets, seq_len, n_steps, lr, clip_norm=5.0):
        params = {k: v.astype(np.float64) for k, v in params.items()}
        adam = {k: rnn_utils.init_adam_state(v) for k, v in params.items()}
        V, n_a = params["Wya"].shape
        m = inputs.shape[0]
        a = np.zeros((n_a, m))
        losses = []
        for k in range(n_steps):
            cols = (
                slice(k, k + seq_len)
                if mistake == "overlapping chunks"
                else slice(k * seq_len, (k + 1) * seq_len)
            )
            x, y = rnn_utils.one_hot(inputs[:, cols], V), rnn_utils.one_hot(targets[:, cols], V)
            a0 = np.zeros((n_a, m)) if mistake == "no carry" else a
            J, grads, a = rnn_utils.rnn_loss_and_grads(x, y, a0, params)
            n = 1 if mistake in ("sum", "clip then divide") else m * seq_len
            grads = {name: grads["d" + name] / n for name in params}
            if mistake != "no clip":
                grads = rnn_utils.clip_gradients(grads, max_norm=clip_norm)
            if mistake == "clip then divide":  # clips the gradient of the summed loss
                grads = {name: g / (m * seq_len) for name, g in grads.items()}
            for name in params:
                if mistake == "fresh adam":
                    adam[name] = rnn_utils.init_adam_state(params[name])
                if mistake == "sign":  # a hand-written step with the wrong sign
                    state = adam[name]
                    new, adam[name] = rnn_utils.adam_update(params[name], grads[name], state, lr)
                    params[name] = params[name] + (params[name] - new)
                else:
                    params[name], adam[name] = rnn_utils.adam_update(
                        params[name], grads[name], adam[name], lr
                    )
            losses.append(J if mistake == "loss not divided" else J / (m * seq_len))
        return params, losses

    return train_rnn


def test_train_rnn_check_passes_the_solution_and_reports_the_stub(checks):
    assert run_check(checks["check_train_rnn"], make_train_rnn()).startswith("PASS")
    assert "not implemented yet" in run_check(checks["check_train_rnn"], not_implemented)


@pytest.mark.parametrize(
    "mistake, hint",
    [
        ("no carry", "the hidden state is not carried"),
        ("no clip", "the gradients are not clipped"),
        ("sign", "the parameters move uphill"),
        ("fresh adam", "Adam starts afresh at every update"),
        ("sum", "divide them by m * T_x"),
        ("clip then divide", "divide first, then clip"),
        ("loss not divided", "record the mean loss per character"),
        ("overlapping chunks", "read chunk k as the columns k * seq_len to (k + 1) * seq_len"),
    ],
)
def test_train_rnn_check_names_the_mistake(checks, mistake, hint):
    out = run_check(checks["check_train_rnn"], make_train_rnn(mistake))
    assert out.startswith("FAIL") and "Hint" in out and hint in out, out


def test_train_rnn_check_wants_one_loss_per_update(checks):
    def one_loss(*args, **kwargs):
        params, losses = make_train_rnn()(*args, **kwargs)
        return params, losses[-1]

    assert "one per update" in run_check(checks["check_train_rnn"], one_loss)


# ---------------------------------------------------------------------------
# Exercise 3: sample
# ---------------------------------------------------------------------------


def make_sample(mistake=None):
    """A learner's sampling loop, right or with one mistake; written apart from the notebook's check."""

    def sample(params, n_chars, rng, temperature=1.0, first_id=0):
        V, n_a = params["Wya"].shape
        a, x = np.zeros((n_a, 1)), np.zeros((V, 1))
        x[first_id] = 1
        ids = []
        for _ in range(n_chars if mistake != "one short" else n_chars - 1):
            a_prev = np.zeros((n_a, 1)) if mistake == "no state" else a
            a, y_hat, _ = rnn_utils.rnn_cell_forward(x, a_prev, params)
            z = (params["Wya"] @ a + params["by"])[:, 0]
            if mistake == "divide probabilities":
                p = y_hat[:, 0] / temperature
                p = p / p.sum()
            else:
                p = rnn_utils.softmax(z / temperature)
            if mistake == "argmax":
                i = int(np.argmax(p))
            elif mistake == "own draw":  # a cumulative-sum draw: a different use of rng
                i = int(np.searchsorted(np.cumsum(p), rng.random() * 0.5))
            else:
                i = int(rng.choice(V, p=p))
            ids.append(i)
            if mistake != "no feedback":
                x = np.zeros((V, 1))
                x[i] = 1
        return ids

    return sample


def test_sample_check_passes_the_solution_and_reports_the_stub(checks):
    assert run_check(checks["check_sample"], make_sample()).startswith("PASS")
    assert "not implemented yet" in run_check(checks["check_sample"], not_implemented)


@pytest.mark.parametrize(
    "mistake, hint",
    [
        ("no feedback", "the drawn character is not fed back"),
        ("no state", "the hidden state is not carried"),
        ("argmax", "you take the most likely id instead of drawing one"),
        ("divide probabilities", "the temperature divides the logits z, before the softmax"),
        ("one short", "return a list of the n_chars ids drawn"),
        ("own draw", "use rng once per character, as rng.choice"),
    ],
)
def test_sample_check_names_the_mistake(checks, mistake, hint):
    out = run_check(checks["check_sample"], make_sample(mistake))
    assert out.startswith("FAIL") and "Hint" in out and hint in out, out
