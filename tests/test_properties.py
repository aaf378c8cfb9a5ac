"""Property tests of rnn_utils: statements that must hold for every shape and
value, checked on many random cases drawn by hypothesis."""

import string

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import rnn_utils as ru

SETTINGS = settings(max_examples=40, deadline=None)


@st.composite
def problems(draw, g2=None):
    """A random RNN, batch, targets and an end-padding mask (as pad_batch makes)."""
    n_x = draw(st.integers(1, 5))
    n_a = draw(st.integers(1, 5))
    n_y = draw(st.integers(1, 4))
    m = draw(st.integers(1, 4))
    T_x = draw(st.integers(1, 6))
    g1 = draw(st.sampled_from(["tanh", "relu"]))
    g2 = g2 or draw(st.sampled_from(["softmax", "sigmoid"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    params = ru.init_params(n_x, n_a, n_y, rng, scale=draw(st.floats(0.1, 1.5)))
    params["ba"] = rng.standard_normal((n_a, 1))
    params["by"] = rng.standard_normal((n_y, 1))
    x = rng.standard_normal((n_x, m, T_x))
    a0 = rng.standard_normal((n_a, m))
    if g2 == "softmax":
        y = ru.one_hot(rng.integers(0, n_y, size=(m, T_x)), n_y)
    else:
        y = (rng.random((n_y, m, T_x)) < 0.5).astype(float)
    lengths = rng.integers(1, T_x + 1, size=m)
    mask = (np.arange(T_x) < lengths[:, None]).astype(float)
    return {"x": x, "y": y, "a0": a0, "params": params, "g1": g1, "g2": g2, "mask": mask, "rng": rng}


def loss_and_grads(p, **changes):
    args = {k: p[k] for k in ("x", "y", "a0", "params", "g1", "g2")} | changes
    return ru.rnn_loss_and_grads(**args)


def assert_grads_close(g1, g2, rtol=1e-10, atol=1e-12):
    assert g1.keys() == g2.keys()
    for k in g1:
        np.testing.assert_allclose(g1[k], g2[k], rtol=rtol, atol=atol, err_msg=k)


@SETTINGS
@given(problems())
def test_a_mask_of_all_ones_is_the_same_as_no_mask(p):
    J, grads, a_last = loss_and_grads(p)
    J1, grads1, a_last1 = loss_and_grads(p, mask=np.ones_like(p["mask"]))
    assert J1 == J
    assert_grads_close(grads1, grads, rtol=0, atol=0)
    assert np.array_equal(a_last1, a_last)


@SETTINGS
@given(problems())
def test_masked_steps_change_neither_cost_nor_gradients(p):
    J, grads, _ = loss_and_grads(p, mask=p["mask"])
    padded = p["mask"] == 0  # (m, T_x), at the end of each sequence
    rng = p["rng"]
    x2, y2 = p["x"].copy(), p["y"].copy()
    x2[:, padded] = rng.standard_normal((x2.shape[0], int(padded.sum())))
    y2[:, padded] = 1.0 - y2[:, padded]  # any valid target will do
    J2, grads2, _ = loss_and_grads(p, x=x2, y=y2, mask=p["mask"])
    assert np.isclose(J2, J, rtol=1e-12, atol=1e-12)
    assert_grads_close(grads2, grads)


@SETTINGS
@given(problems(), st.data())
def test_permuting_examples_permutes_outputs_and_keeps_the_cost(p, data):
    m = p["x"].shape[1]
    perm = np.array(data.draw(st.permutations(range(m))))
    a, y_hat, _ = ru.rnn_forward(p["x"], p["a0"], p["params"], g1=p["g1"], g2=p["g2"])
    a_p, y_hat_p, _ = ru.rnn_forward(p["x"][:, perm], p["a0"][:, perm], p["params"], g1=p["g1"], g2=p["g2"])
    np.testing.assert_allclose(a_p, a[:, perm], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(y_hat_p, y_hat[:, perm], rtol=1e-12, atol=1e-14)
    J, grads, _ = loss_and_grads(p, mask=p["mask"])
    J_p, grads_p, _ = loss_and_grads(
        p, x=p["x"][:, perm], y=p["y"][:, perm], a0=p["a0"][:, perm], mask=p["mask"][perm]
    )
    assert np.isclose(J_p, J, rtol=1e-12)
    for k in ("dWaa", "dWax", "dWya", "dba", "dby"):
        np.testing.assert_allclose(grads_p[k], grads[k], rtol=1e-10, atol=1e-12, err_msg=k)
    np.testing.assert_allclose(grads_p["da0"], grads["da0"][:, perm], rtol=1e-10, atol=1e-12)


@SETTINGS
@given(problems())
def test_the_stacked_form_equals_the_split_form(p):
    params, x = p["params"], p["x"]
    Wa = np.hstack([params["Waa"], params["Wax"]])  # (n_a, n_a + n_x)
    a_prev = p["a0"]
    a, _, _ = ru.rnn_forward(x, a_prev, params, g1=p["g1"], g2=p["g2"])
    g1 = ru.G1_FUNCTIONS[p["g1"]]
    for t in range(x.shape[2]):
        a_prev = g1(Wa @ np.vstack([a_prev, x[:, :, t]]) + params["ba"])
        np.testing.assert_allclose(a_prev, a[:, :, t], rtol=1e-12, atol=1e-13)


@SETTINGS
@given(
    st.integers(1, 6),
    st.integers(1, 5),
    st.lists(st.sampled_from([-1000.0, 1000.0, 0.0, -1e-3, 500.0]), min_size=1, max_size=30),
    st.integers(0, 2**32 - 1),
)
def test_softmax_and_losses_stay_finite_for_huge_logits(n_y, m, values, seed):
    rng = np.random.default_rng(seed)
    z = rng.choice(values, size=(n_y, m, 2))
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        probs = ru.softmax(z)
        sig = ru.sigmoid(z)
    assert np.all(np.isfinite(probs)) and np.allclose(probs.sum(axis=0), 1.0)
    assert np.all(np.isfinite(sig)) and np.all((sig >= 0) & (sig <= 1))
    y = ru.one_hot(rng.integers(0, n_y, size=(m, 2)), n_y)
    assert np.isfinite(ru.cross_entropy(probs, y))
    assert np.isfinite(ru.binary_cross_entropy(sig, y))


@SETTINGS
@given(st.text(alphabet=string.printable + "éß中\u00a0", min_size=1, max_size=60), st.data())
def test_vocabulary_and_one_hot_round_trip_any_text(text, data):
    vocab = ru.CharVocab(text)
    chars = data.draw(st.lists(st.sampled_from(sorted(set(text))), max_size=40))
    other = "".join(chars)
    ids = vocab.encode(other)
    assert vocab.decode(ids) == other
    x = ru.one_hot(ids, vocab.size)
    assert x.shape == (vocab.size, len(other))
    assert np.array_equal(x.sum(axis=0), np.ones(len(other)))
    assert vocab.decode(np.argmax(x, axis=0)) == other
