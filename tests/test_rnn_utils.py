"""Unit tests of rnn_utils: hand-computed values and the input checks."""

import math

import numpy as np
import pytest

import rnn_utils as ru

# ---------------------------------------------------------------------------
# Vocabulary, one-hot, padding
# ---------------------------------------------------------------------------


def test_vocab_sorted_ids_and_round_trip():
    vocab = ru.CharVocab("banana split")
    assert vocab.chars == [" ", "a", "b", "i", "l", "n", "p", "s", "t"]
    assert vocab.size == len(vocab) == 9
    assert vocab.char_to_id["b"] == 2
    ids = vocab.encode("tan lips")
    assert ids.tolist() == [8, 1, 5, 0, 4, 3, 6, 7]
    assert ids.dtype == np.int64
    assert vocab.decode(ids) == "tan lips"
    assert vocab.decode([]) == ""
    assert repr(vocab) == "CharVocab(size=9, chars=' abilnpst')"


def test_vocab_same_text_same_ids():
    assert ru.CharVocab("hello world").chars == ru.CharVocab("world hello").chars


def test_vocab_rejects_empty_text():
    with pytest.raises(ValueError, match=r"text must contain at least one character; got ''"):
        ru.CharVocab("")


def test_vocab_rejects_non_string():
    with pytest.raises(ValueError, match="text must be a str; got list"):
        ru.CharVocab(["a", "b"])


def test_vocab_encode_lists_unknown_characters():
    vocab = ru.CharVocab("abc")
    with pytest.raises(ValueError, match=r"not in the vocabulary: \['!', 'z'\]; the vocabulary has 'abc'"):
        vocab.encode("cab!z!")


def test_vocab_decode_rejects_out_of_range_and_non_integers():
    vocab = ru.CharVocab("abc")
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 2\]; got \[-1, 3\]"):
        vocab.decode([0, 3, -1])
    with pytest.raises(ValueError, match="ids must be a 1-D sequence of integers"):
        vocab.decode([0.0, 1.0])
    with pytest.raises(ValueError, match=r"got shape \(1, 2\)"):
        vocab.decode([[0, 1]])


def test_one_hot_values_and_shapes():
    out = ru.one_hot([2, 0, 1], 3)
    assert out.shape == (3, 3)
    assert out.tolist() == [[0, 1, 0], [0, 0, 1], [1, 0, 0]]
    batch = ru.one_hot(np.array([[0, 1], [1, 1]]), 2)
    assert batch.shape == (2, 2, 2)  # (n, m, T)
    assert batch[:, 0, 0].tolist() == [1, 0]
    assert batch[:, 1, 1].tolist() == [0, 1]
    assert ru.one_hot(np.array([], dtype=int), 4).shape == (4, 0)


def test_one_hot_rejects_bad_ids_and_n():
    with pytest.raises(ValueError, match=r"ids must lie in \[0, n\) = \[0, 3\); got \[3, 7\]"):
        ru.one_hot([0, 3, 7], 3)
    with pytest.raises(ValueError, match="ids must be integers; got dtype float64"):
        ru.one_hot([0.0, 1.0], 3)
    with pytest.raises(ValueError, match="n must be a positive integer; got 0"):
        ru.one_hot([0], 0)


def test_pad_batch_pads_with_zeros_and_masks():
    x, mask = ru.pad_batch([[0, 1, 2], [2], [1, 1]], 3)
    assert x.shape == (3, 3, 3)  # (n_x, m, T_x)
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0], [1, 1, 0]]
    assert x[:, 1, 0].tolist() == [0, 0, 1]
    assert x[:, 1, 1].tolist() == [0, 0, 0]  # padding is all zeros
    assert np.array_equal(x.sum(axis=0), mask)  # each real step is one-hot


def test_pad_batch_rejects_empty_inputs():
    with pytest.raises(ValueError, match="sequences must be a non-empty list"):
        ru.pad_batch([], 3)
    with pytest.raises(ValueError, match=r"sequence\(s\) \[1\] are empty"):
        ru.pad_batch([[0], []], 3)
    with pytest.raises(ValueError, match=r"ids must lie in \[0, n\) = \[0, 2\); got \[5\]"):
        ru.pad_batch([[0, 5]], 2)


# ---------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------


def test_sigmoid_hand_values_and_extremes():
    assert ru.sigmoid(0.0) == 0.5
    assert ru.sigmoid(math.log(3)) == pytest.approx(0.75)
    assert ru.sigmoid(-math.log(3)) == pytest.approx(0.25)
    with np.errstate(over="raise", divide="raise", invalid="raise"):  # no overflow warning may occur
        out = ru.sigmoid(np.array([-1000.0, 1000.0]))
    assert out.tolist() == [0.0, 1.0]


def test_softmax_hand_values_columns_and_extremes():
    z = np.array([[0.0, 1.0], [math.log(3), 1.0]])  # two examples as columns
    assert np.allclose(ru.softmax(z), [[0.25, 0.5], [0.75, 0.5]])
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        out = ru.softmax(np.array([[1000.0], [-1000.0], [1000.0]]))
    assert np.allclose(out[:, 0], [0.5, 0.0, 0.5])
    three_d = ru.softmax(np.zeros((4, 2, 3)))
    assert np.allclose(three_d, 0.25)


def test_softmax_and_sigmoid_reject_non_finite():
    with pytest.raises(ValueError, match=r"z must contain only finite numbers; got 1 NaN or infinite"):
        ru.softmax(np.array([[1.0], [np.nan]]))
    with pytest.raises(ValueError, match="z must contain only finite numbers; got 2"):
        ru.sigmoid(np.array([np.inf, -np.inf, 0.0]))
    with pytest.raises(ValueError, match="z must have at least one axis"):
        ru.softmax(1.0)


def test_relu():
    assert ru.relu(np.array([-2.0, 0.0, 3.0])).tolist() == [0.0, 0.0, 3.0]


# ---------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------


def test_init_params_shapes_zero_biases_and_seed():
    p = ru.init_params(5, 4, 3, np.random.default_rng(0))
    shapes = {k: v.shape for k, v in p.items()}
    assert shapes == {"Waa": (4, 4), "Wax": (4, 5), "Wya": (3, 4), "ba": (4, 1), "by": (3, 1)}
    assert not p["ba"].any() and not p["by"].any()
    q = ru.init_params(5, 4, 3, np.random.default_rng(0))
    assert all(np.array_equal(p[k], q[k]) for k in p)
    big = ru.init_params(50, 50, 50, np.random.default_rng(1), scale=2.0, dtype=np.float32)
    assert big["Waa"].dtype == np.float32
    assert 1.8 < big["Waa"].std() < 2.2


def test_init_params_uniform_stays_within_scale_and_fills_it():
    p = ru.init_params(40, 60, 40, np.random.default_rng(2), scale=0.25, distribution="uniform")
    for k in ("Waa", "Wax", "Wya"):
        assert -0.25 <= p[k].min() and p[k].max() < 0.25
        assert p[k].min() < -0.24 and p[k].max() > 0.24  # fills the range: not a normal of small spread
        assert abs(p[k].std() - 0.25 / np.sqrt(3)) < 0.01  # the standard deviation of U(-s, s)
    assert not p["ba"].any() and not p["by"].any()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_x": 0}, "n_x must be a positive integer; got 0"),
        ({"n_a": 2.5}, "n_a must be a positive integer; got 2.5"),
        ({"n_y": True}, "n_y must be a positive integer; got True"),
        ({"rng": 0}, "rng must be a numpy.random.Generator .*; got int"),
        ({"scale": -1.0}, "scale must be a finite number >= 0; got -1.0"),
        ({"dtype": np.int32}, "dtype must be a floating-point type"),
        ({"distribution": "gauss"}, r"distribution must be one of \['normal', 'uniform'\]; got 'gauss'"),
    ],
)
def test_init_params_rejects_bad_arguments(kwargs, message):
    args = {"n_x": 2, "n_a": 3, "n_y": 2, "rng": np.random.default_rng(0)} | kwargs
    with pytest.raises(ValueError, match=message):
        ru.init_params(**args)


# ---------------------------------------------------------------------------
# Forward pass
# ---------------------------------------------------------------------------


def hand_params():
    """One input, one hidden unit, two outputs, with values chosen so that each
    step can be worked out by hand. Both biases are nonzero (and by is not the
    same in every row, which softmax would cancel), so a forward pass that
    forgets ``+ ba`` or ``+ by`` gives other numbers."""
    return {
        "Waa": np.array([[2.0]]),
        "Wax": np.array([[math.atanh(0.5) - 0.25]]),
        "Wya": np.array([[0.0], [4 * math.log(3)]]),
        "ba": np.array([[0.25]]),
        "by": np.array([[0.0], [-math.log(3)]]),
    }


def test_cell_forward_by_hand():
    # z = 2*0 + (atanh(0.5) - 0.25)*1 + 0.25 = atanh(0.5), so a = 0.5;
    # logits (0, 4 ln 3 * 0.5 - ln 3) = (0, ln 3) give softmax (1/4, 3/4).
    a_next, yt_hat, cache = ru.rnn_cell_forward(np.array([[1.0]]), np.array([[0.0]]), hand_params())
    assert a_next.shape == (1, 1) and yt_hat.shape == (2, 1)
    assert a_next[0, 0] == pytest.approx(0.5)
    assert yt_hat[:, 0] == pytest.approx([0.25, 0.75])
    assert set(cache) == {"a_next", "a_prev", "xt", "params", "g1"}
    assert cache["g1"] == "tanh"


def test_cell_forward_relu_and_sigmoid_by_hand():
    p = hand_params()
    p["Wax"] = np.array([[-1.0]])
    # z = -1 + 0.25 so ReLU gives 0; the logits are by = (0, -ln 3): sigmoids 1/2 and 1/4.
    a_next, yt_hat, _ = ru.rnn_cell_forward(np.array([[1.0]]), np.array([[0.0]]), p, g1="relu", g2="sigmoid")
    assert a_next[0, 0] == 0.0
    assert yt_hat[:, 0] == pytest.approx([0.5, 0.25])
    # z = 2*0.5 + 0.25 = 1.25: ReLU passes it; logit 4 ln 3 * 1.25 - ln 3 = 4 ln 3, sigmoid 81/82.
    a_next, yt_hat, _ = ru.rnn_cell_forward(np.array([[0.0]]), np.array([[0.5]]), p, g1="relu", g2="sigmoid")
    assert a_next[0, 0] == 1.25
    assert yt_hat[:, 0] == pytest.approx([0.5, 81 / 82])


def test_rnn_forward_two_steps_by_hand():
    x = np.array([[[1.0, 0.0]]])  # (n_x, m, T_x) = (1, 1, 2)
    a, y_hat, (caches, x_cached) = ru.rnn_forward(x, np.zeros((1, 1)), hand_params())
    assert a.shape == (1, 1, 2) and y_hat.shape == (2, 1, 2)
    # step 1: a = 0.5; step 2: z = 2 * 0.5 + 0 + 0.25 = 1.25, a = tanh(1.25).
    assert a[0, 0, 0] == pytest.approx(0.5)
    assert a[0, 0, 1] == pytest.approx(0.8482836399575129)
    assert y_hat[:, 0, 0] == pytest.approx([0.25, 0.75])
    e = math.exp(4 * math.log(3) * 0.8482836399575129 - math.log(3))  # logits (0, ln e)
    assert y_hat[:, 0, 1] == pytest.approx([1 / (1 + e), e / (1 + e)])
    assert len(caches) == 2 and x_cached is not None
    assert caches[1]["a_prev"][0, 0] == pytest.approx(0.5)


def test_rnn_forward_equals_repeated_cells_and_uses_a0():
    rng = np.random.default_rng(3)
    p = ru.init_params(4, 5, 3, rng, scale=0.7)
    p["ba"], p["by"] = rng.standard_normal((5, 1)), rng.standard_normal((3, 1))
    x = rng.standard_normal((4, 2, 6))
    a0 = rng.standard_normal((5, 2))
    a, y_hat, _ = ru.rnn_forward(x, a0, p, g1="relu", g2="sigmoid")
    a_prev = a0
    for t in range(6):
        a_prev, yt, _ = ru.rnn_cell_forward(x[:, :, t], a_prev, p, g1="relu", g2="sigmoid")
        assert np.array_equal(a[:, :, t], a_prev)
        assert np.array_equal(y_hat[:, :, t], yt)
    a_zero, _, _ = ru.rnn_forward(x, np.zeros((5, 2)), p)
    assert not np.allclose(a_zero[:, :, 0], ru.rnn_forward(x, a0, p)[0][:, :, 0])


@pytest.mark.parametrize("g1, g2", [("tanh", "softmax"), ("relu", "sigmoid")])
def test_cell_forward_equals_the_equations_with_nonzero_biases(g1, g2):
    rng = np.random.default_rng(9)
    p = ru.init_params(3, 4, 2, rng, scale=0.8)
    p["ba"], p["by"] = rng.standard_normal((4, 1)), rng.standard_normal((2, 1))
    xt, a_prev = rng.standard_normal((3, 5)), rng.standard_normal((4, 5))
    a_next, yt_hat, _ = ru.rnn_cell_forward(xt, a_prev, p, g1=g1, g2=g2)
    z = p["Waa"] @ a_prev + p["Wax"] @ xt + p["ba"]
    a_ref = np.tanh(z) if g1 == "tanh" else np.maximum(z, 0)
    logits = p["Wya"] @ a_ref + p["by"]
    if g2 == "softmax":
        y_ref = np.exp(logits) / np.exp(logits).sum(axis=0)
    else:
        y_ref = 1 / (1 + np.exp(-logits))
    np.testing.assert_allclose(a_next, a_ref, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(yt_hat, y_ref, rtol=1e-13, atol=1e-15)


def test_rnn_forward_single_step_and_float32():
    rng = np.random.default_rng(4)
    p = ru.init_params(3, 2, 3, rng, dtype=np.float32)
    p["ba"] = np.full((2, 1), 0.5, dtype=np.float32)
    p["by"] = np.array([[1.0], [0.0], [-1.0]], dtype=np.float32)
    x = rng.standard_normal((3, 1, 1)).astype(np.float32)
    a, y_hat, _ = ru.rnn_forward(x, np.zeros((2, 1), dtype=np.float32), p)
    assert a.shape == (2, 1, 1) and a.dtype == np.float32 and y_hat.dtype == np.float32
    assert y_hat.sum() == pytest.approx(1.0, abs=1e-6)


def forward_args():
    rng = np.random.default_rng(5)
    return {
        "x": rng.standard_normal((3, 2, 4)),
        "a0": np.zeros((5, 2)),
        "params": ru.init_params(3, 5, 3, rng),
    }


@pytest.mark.parametrize(
    "change, message",
    [
        ({"x": np.zeros((3, 2))}, r"x must have shape \(n_x, m, T_x\) = \(3, m, T_x\); got \(3, 2\)"),
        ({"x": np.zeros((4, 2, 4))}, r"x must have shape \(n_x, m, T_x\) = \(3, m, T_x\); got \(4, 2, 4\)"),
        ({"x": np.zeros((3, 2, 0))}, "x must have at least one time step; got T_x = 0"),
        ({"x": np.full((3, 2, 4), np.nan)}, "x must contain only finite numbers; got 24 NaN"),
        ({"x": np.full((3, 2, 4), "a")}, "x must be a numeric array; got dtype <U1"),
        ({"a0": np.zeros((5, 3))}, r"a0 must have shape \(n_a, m\) = \(5, 2\); got \(5, 3\)"),
        ({"a0": np.zeros(5)}, r"a0 must have shape \(n_a, m\) = \(5, 2\); got \(5,\)"),
        ({"g1": "sigmoid"}, r"g1 must be one of \['relu', 'tanh'\]; got 'sigmoid'"),
        ({"g2": "tanh"}, r"g2 must be one of \['sigmoid', 'softmax'\]; got 'tanh'"),
        ({"params": []}, "params must be a dict; got list"),
    ],
)
def test_rnn_forward_rejects_bad_inputs(change, message):
    args = forward_args() | change
    with pytest.raises(ValueError, match=message):
        ru.rnn_forward(**args)


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("Waa", np.zeros((5, 4)), r"params\['Waa'\] must have shape \(n_a, n_a\) = \(5, 5\); got \(5, 4\)"),
        ("Wya", np.zeros((3, 4)), r"params\['Wya'\] must have shape \(n_y, n_a\) = \(3, 5\); got \(3, 4\)"),
        ("ba", np.zeros(5), r"params\['ba'\] must have shape \(n_a, 1\) = \(5, 1\); got \(5,\)"),
        ("by", np.zeros((3, 2)), r"params\['by'\] must have shape \(n_y, 1\) = \(3, 1\); got \(3, 2\)"),
        ("Wax", np.zeros(5), r"params\['Wax'\] must have shape \(n_a, n_x\); got \(5,\)"),
        ("Waa", np.full((5, 5), np.inf), r"params\['Waa'\] must contain only finite numbers"),
    ],
)
def test_rnn_forward_rejects_bad_params(key, value, message):
    args = forward_args()
    args["params"] = dict(args["params"], **{key: value})
    with pytest.raises(ValueError, match=message):
        ru.rnn_forward(**args)


def test_rnn_forward_reports_missing_params():
    args = forward_args()
    del args["params"]["by"]
    with pytest.raises(ValueError, match=r"params must have keys .*; missing \['by'\]"):
        ru.rnn_forward(**args)


def test_rnn_cell_forward_rejects_bad_inputs():
    p = ru.init_params(3, 5, 3, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"xt must have shape \(n_x, m\) = \(3, m\); got \(3,\)"):
        ru.rnn_cell_forward(np.zeros(3), np.zeros((5, 1)), p)
    with pytest.raises(ValueError, match=r"a_prev must have shape \(n_a, m\) = \(5, 2\); got \(5, 1\)"):
        ru.rnn_cell_forward(np.zeros((3, 2)), np.zeros((5, 1)), p)
    with pytest.raises(ValueError, match="g1 must be one of"):
        ru.rnn_cell_forward(np.zeros((3, 1)), np.zeros((5, 1)), p, g1="softmax")


# ---------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------


def test_cross_entropy_by_hand_with_mask():
    # One example, three steps; the true class gets 1/2, 1/4, then 1/8.
    y_hat = np.array([[[0.5, 0.75, 0.125]], [[0.5, 0.25, 0.875]]])  # (2, 1, 3)
    y = np.array([[[1.0, 0.0, 1.0]], [[0.0, 1.0, 0.0]]])
    assert ru.cross_entropy(y_hat, y) == pytest.approx(math.log(2) + math.log(4) + math.log(8))
    mask = np.array([[1.0, 1.0, 0.0]])
    assert ru.cross_entropy(y_hat, y, mask) == pytest.approx(math.log(8))  # ln 2 + ln 4


def test_cross_entropy_sums_over_examples_and_accepts_one_step():
    y_hat = np.array([[0.5, 0.1], [0.5, 0.9]])  # (n_y, m) for a single step
    y = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert ru.cross_entropy(y_hat, y) == pytest.approx(math.log(2) - math.log(0.9))
    assert ru.cross_entropy(y_hat, y, mask=np.array([0.0, 1.0])) == pytest.approx(-math.log(0.9))


def test_binary_cross_entropy_by_hand():
    y_hat = np.array([[[0.8, 0.8, 0.5]]])  # (1, 1, 3)
    y = np.array([[[1.0, 0.0, 1.0]]])
    expected = -math.log(0.8) - math.log(0.2) - math.log(0.5)
    assert ru.binary_cross_entropy(y_hat, y) == pytest.approx(expected)
    assert ru.binary_cross_entropy(y_hat, y, np.array([[1.0, 0.0, 0.0]])) == pytest.approx(-math.log(0.8))


def test_losses_stay_finite_at_zero_probabilities():
    # A confident right answer costs 0; a confident wrong one a large finite amount.
    y_hat = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])
    y = np.array([[[1.0, 1.0]], [[0.0, 0.0]]])
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        ce = ru.cross_entropy(y_hat, y)
        bce = ru.binary_cross_entropy(y_hat[:1], y[:1])
    assert ce == pytest.approx(-math.log(np.finfo(float).tiny))
    assert bce == pytest.approx(-math.log(np.finfo(float).tiny))
    assert ru.cross_entropy(y_hat[:, :, :1], y[:, :, :1]) == 0.0


@pytest.mark.parametrize("loss", [ru.cross_entropy, ru.binary_cross_entropy])
def test_losses_reject_bad_inputs(loss):
    y_hat = np.full((2, 3, 4), 0.5)
    y = np.zeros((2, 3, 4))
    with pytest.raises(
        ValueError,
        match=r"y_hat must hold probabilities in \[0, 1\]; got values from -2 to 3 \(pass g2 outputs, not logits\)",
    ):
        loss(np.linspace(-2, 3, 24).reshape(2, 3, 4), y)
    with pytest.raises(ValueError, match=r"y must have shape \(n_y, m, T_y\) = \(2, 3, 4\); got \(2, 3\)"):
        loss(y_hat, y[:, :, 0])
    too_big = y.copy()
    too_big[0, 0, 0] = 2.0
    with pytest.raises(ValueError, match=r"y must hold targets in \[0, 1\]; got values from 0 to 2"):
        loss(y_hat, too_big)
    with pytest.raises(ValueError, match=r"mask must have shape \(m, T_y\) = \(3, 4\); got \(4, 3\)"):
        loss(y_hat, y, mask=np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"mask must hold only 0 \(padding\) and 1 \(real step\)"):
        loss(y_hat, y, mask=np.full((3, 4), 0.5))
    with pytest.raises(
        ValueError, match=r"y_hat must have shape \(n_y, m, T_y\), or \(n_y, m\) for one step; got \(4,\)"
    ):
        loss(np.full(4, 0.5), np.zeros(4))
    with pytest.raises(ValueError, match="y_hat must contain only finite numbers"):
        loss(np.full((2, 3, 4), np.nan), y)
