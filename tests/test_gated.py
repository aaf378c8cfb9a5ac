"""Tests of the gated cells in rnn_utils (notebook 6): the GRU and the LSTM.
Hand-checkable limits (gates forced open or shut), cell against loop, shapes,
finite-difference gradient checks in float64, masks, carried state, and the
input checks."""

import numpy as np
import pytest

import rnn_utils as ru

TOLERANCE = 1e-7  # relative error below which an analytic gradient is right
BIG = 50.0  # sigmoid(50) rounds to 1.0 in float64, sigmoid(-50) is 2e-22
GATES = {"gru": "urc", "lstm": "fico"}


def random_problem(cell, seed, n_x, n_a, n_y, m, T_x, masked=False, scale=0.5):
    """Random parameters (biases included), inputs, first state, targets, mask."""
    rng = np.random.default_rng(seed)
    init = ru.init_gru_params if cell == "gru" else ru.init_lstm_params
    params = init(n_x, n_a, n_y, rng, scale=scale)
    for k in params:
        if k.startswith("b"):
            params[k] = 0.5 * rng.standard_normal(params[k].shape)
    x = rng.standard_normal((n_x, m, T_x))
    h0 = 0.5 * rng.standard_normal((n_a, m))
    y = ru.one_hot(rng.integers(0, n_y, size=(m, T_x)), n_y)
    mask = None
    if masked:
        lengths = rng.integers(1, T_x + 1, size=m)
        mask = (np.arange(T_x) < lengths[:, None]).astype(float)
    return x, y, h0, params, mask


def forward(cell, x, h0, params):
    """The hidden states (c for the GRU, a for the LSTM), y_hat and caches."""
    if cell == "gru":
        return ru.gru_forward(x, h0, params)
    a, y_hat, _, caches = ru.lstm_forward(x, h0, params)
    return a, y_hat, caches


SHAPES = [  # (n_x, n_a, n_y, m, T_x)
    (3, 4, 3, 2, 5),
    (2, 3, 2, 1, 1),  # m = 1 and T_x = 1
    (5, 2, 5, 1, 6),
    (3, 5, 4, 3, 4),
]
SHAPE_IDS = ["x".join(map(str, s)) for s in SHAPES]


# ---------------------------------------------------------------------------
# Parameters and the forward pass
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_init_shapes_biases_and_seed(cell):
    init = ru.init_gru_params if cell == "gru" else ru.init_lstm_params
    p = init(3, 4, 5, np.random.default_rng(0), dtype=np.float32)
    assert list(p) == [w + g for g in GATES[cell] for w in "Wb"] + ["Wy", "by"]
    for g in GATES[cell]:
        assert p["W" + g].shape == (4, 7) and p["b" + g].shape == (4, 1)
        assert p["W" + g].dtype == np.float32 and 0 < np.std(p["W" + g]) < 0.05
    assert p["Wy"].shape == (5, 4) and p["by"].shape == (5, 1)
    biases = {k: float(np.abs(v).max()) for k, v in p.items() if k.startswith("b")}
    expected = dict.fromkeys(biases, 0.0) | ({"bf": 1.0} if cell == "lstm" else {})
    assert biases == expected and float(p.get("bf", np.ones(1)).min()) == 1.0
    again = init(3, 4, 5, np.random.default_rng(0), dtype=np.float32)
    assert all(np.array_equal(p[k], again[k]) for k in p)


def test_init_lstm_forget_bias_can_be_zero_and_is_checked():
    p = ru.init_lstm_params(2, 3, 2, np.random.default_rng(0), forget_bias=0.0)
    assert not p["bf"].any()
    with pytest.raises(ValueError, match="forget_bias must be a finite number"):
        ru.init_lstm_params(2, 3, 2, np.random.default_rng(0), forget_bias=float("nan"))


def test_gru_with_gates_open_is_the_vanilla_rnn():
    # Γ_u = Γ_r = 1: c<t> = tanh(Wc[c<t-1>; x<t>] + bc), the RNN with Waa, Wax taken from Wc.
    x, _, c0, p, _ = random_problem("gru", 1, 3, 4, 3, 2, 5)
    p["bu"][:], p["br"][:] = BIG, BIG
    c, y_hat, _ = ru.gru_forward(x, c0, p)
    rnn = {"Waa": p["Wc"][:, :4], "Wax": p["Wc"][:, 4:], "ba": p["bc"], "Wya": p["Wy"], "by": p["by"]}
    a, y_rnn, _ = ru.rnn_forward(x, c0, rnn)
    np.testing.assert_allclose(c, a, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(y_hat, y_rnn, rtol=1e-13, atol=1e-15)


def test_gru_relevance_shut_forgets_and_update_shut_keeps():
    x, _, c0, p, _ = random_problem("gru", 2, 3, 4, 3, 2, 5)
    # Γ_r = 0, Γ_u = 1: the candidate sees only x, so c<t> = tanh(Wc[0; x<t>] + bc).
    p["br"][:], p["bu"][:] = -BIG, BIG
    c, _, _ = ru.gru_forward(x, c0, p)
    np.testing.assert_allclose(c, np.tanh(np.einsum("ax,xmt->amt", p["Wc"][:, 4:], x) + p["bc"][:, :, None]))
    # Γ_u = 0: the cell keeps c0 at every step, whatever it reads.
    p["bu"][:] = -BIG
    c, _, _ = ru.gru_forward(x, c0, p)
    np.testing.assert_allclose(c, np.repeat(c0[:, :, None], 5, axis=2), rtol=1e-15)


def test_lstm_with_forget_shut_and_input_output_open():
    # Γ_f = 0, Γ_i = Γ_o = 1: c<t> = tanh(Wc[a<t-1>; x<t>] + bc) and a<t> = tanh(c<t>).
    x, _, a0, p, _ = random_problem("lstm", 3, 3, 4, 3, 2, 5)
    p["bf"][:], p["bi"][:], p["bo"][:] = -BIG, BIG, BIG
    a, y_hat, c, _ = ru.lstm_forward(x, a0, p, c0=np.ones((4, 2)))
    a_prev = a0
    for t in range(5):
        c_t = np.tanh(p["Wc"] @ np.concatenate([a_prev, x[:, :, t]]) + p["bc"])
        a_prev = np.tanh(c_t)
        np.testing.assert_allclose(c[:, :, t], c_t, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(a[:, :, t], a_prev, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(y_hat[:, :, t], ru.softmax(p["Wy"] @ a_prev + p["by"]), rtol=1e-13)


def test_lstm_with_forget_open_and_input_shut_keeps_its_memory():
    # Γ_f = 1, Γ_i = 0, Γ_o = 1: c<t> = c0 at every step and a<t> = tanh(c0).
    x, _, a0, p, _ = random_problem("lstm", 4, 3, 4, 3, 2, 5)
    p["bf"][:], p["bi"][:], p["bo"][:] = BIG, -BIG, BIG
    c0 = np.random.default_rng(5).standard_normal((4, 2))
    a, _, c, _ = ru.lstm_forward(x, a0, p, c0=c0)
    np.testing.assert_allclose(c, np.repeat(c0[:, :, None], 5, axis=2), rtol=1e-15)
    np.testing.assert_allclose(a, np.tanh(c), rtol=1e-15)
    # Without c0 the memory starts at zero and stays there.
    a, _, c, _ = ru.lstm_forward(x, a0, p)
    assert np.abs(c).max() < 1e-20 and np.abs(a).max() < 1e-20  # Γ_i = sigmoid(-50)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_forward_is_the_cell_repeated_with_every_shape(cell):
    x, _, h0, p, _ = random_problem(cell, 6, 3, 4, 5, 2, 6)
    if cell == "gru":
        h, y_hat, (caches, x_cached) = ru.gru_forward(x, h0, p)
        c = h
    else:
        h, y_hat, c, (caches, x_cached) = ru.lstm_forward(x, h0, p)
    assert h.shape == c.shape == (4, 2, 6) and y_hat.shape == (5, 2, 6)
    assert len(caches) == 6 and x_cached.shape == x.shape
    np.testing.assert_allclose(y_hat.sum(axis=0), 1.0, rtol=1e-14)
    h_prev, c_prev = h0, np.zeros_like(h0)
    for t in range(6):
        if cell == "gru":
            h_prev, yt, _ = ru.gru_cell_forward(x[:, :, t], h_prev, p)
            c_prev = h_prev
        else:
            h_prev, c_prev, yt, _ = ru.lstm_cell_forward(x[:, :, t], h_prev, c_prev, p)
        assert h_prev.shape == c_prev.shape == (4, 2) and yt.shape == (5, 2)
        np.testing.assert_array_equal(h[:, :, t], h_prev)
        np.testing.assert_array_equal(c[:, :, t], c_prev)
        np.testing.assert_array_equal(y_hat[:, :, t], yt)


def test_forward_keeps_float32():
    p = ru.init_lstm_params(3, 4, 3, np.random.default_rng(0), dtype=np.float32)
    x = np.ones((3, 2, 2), dtype=np.float32)
    a, y_hat, c, _ = ru.lstm_forward(x, np.zeros((4, 2), dtype=np.float32), p)
    assert a.dtype == y_hat.dtype == c.dtype == np.float32


def test_forward_input_checks():
    x, _, h0, p, _ = random_problem("gru", 0, 3, 4, 3, 2, 5)
    with pytest.raises(ValueError, match=r"xt must have shape \(n_x, m\) = \(3, m\); got \(2, 2\)"):
        ru.gru_cell_forward(np.zeros((2, 2)), h0, p)
    with pytest.raises(ValueError, match=r"c_prev must have shape \(n_a, m\) = \(4, 2\); got \(4, 3\)"):
        ru.gru_cell_forward(x[:, :, 0], np.zeros((4, 3)), p)
    with pytest.raises(ValueError, match=r"params must have keys .*; missing \['br'\]"):
        ru.gru_forward(x, h0, {k: v for k, v in p.items() if k != "br"})
    with pytest.raises(
        ValueError, match=r"params\['Wc'\] must have shape \(n_a, n_a \+ n_x\) = \(4, 7\); got"
    ):
        ru.gru_forward(x, h0, dict(p, Wc=np.zeros((4, 6))))
    with pytest.raises(ValueError, match=r"params\['by'\] must have shape \(n_y, 1\) = \(3, 1\)"):
        ru.gru_forward(x, h0, dict(p, by=np.zeros(3)))
    with pytest.raises(ValueError, match=r"x must have shape \(n_x, m, T_x\) = \(3, m, T_x\)"):
        ru.gru_forward(x[:, :, 0], h0, p)
    with pytest.raises(ValueError, match="c0 must contain only finite numbers; got 2 NaN"):
        ru.gru_forward(x, np.where(np.eye(4, 2) > 0, np.nan, h0), p)
    x, _, a0, p, _ = random_problem("lstm", 0, 3, 4, 3, 2, 5)
    with pytest.raises(ValueError, match=r"params must have keys .*; missing \['Wo'\]"):
        ru.lstm_cell_forward(x[:, :, 0], a0, a0, {k: v for k, v in p.items() if k != "Wo"})
    with pytest.raises(ValueError, match="a_prev must have shape"):
        ru.lstm_cell_forward(x[:, :, 0], a0[:3], a0, p)
    with pytest.raises(ValueError, match=r"c0 must have shape \(n_a, m\) = \(4, 2\); got \(4, 1\)"):
        ru.lstm_forward(x, a0, p, c0=np.zeros((4, 1)))
    with pytest.raises(ValueError, match=r"params\['Wi'\] must contain only finite numbers"):
        ru.lstm_forward(x, a0, dict(p, Wi=p["Wi"] * np.inf))


# ---------------------------------------------------------------------------
# Backpropagation through time
# ---------------------------------------------------------------------------


def backward_errors(cell, shape, seed):
    """grad_check of gru_backward / lstm_backward with J = sum(w * h) for a
    random upstream w, over every gate parameter, x and the first state."""
    x, _, h0, p, _ = random_problem(cell, seed, *shape)
    w = np.random.default_rng(seed + 100).standard_normal(h0.shape + x.shape[2:])

    def cost():
        return float(np.sum(w * forward(cell, x, h0, p)[0]))

    backward = ru.gru_backward if cell == "gru" else ru.lstm_backward
    grads = backward(w, forward(cell, x, h0, p)[2])
    h0_name = "c0" if cell == "gru" else "a0"
    gate_keys = [w + g for g in GATES[cell] for w in "Wb"]
    assert sorted(grads) == sorted(["d" + k for k in gate_keys] + ["dx", "d" + h0_name])
    inputs = {k: p[k] for k in gate_keys} | {"x": x, h0_name: h0}
    assert all(grads["d" + k].shape == v.shape for k, v in inputs.items())
    return ru.grad_check(cost, inputs, grads)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_backward_passes_gradient_check(cell, shape):
    errors = backward_errors(cell, shape, SHAPES.index(shape))
    assert max(errors.values()) < TOLERANCE, errors


def test_lstm_cell_backward_passes_gradient_check_through_a_and_c():
    # One step, with separate upstream gradients on a_next and c_next.
    x, _, a_prev, p, _ = random_problem("lstm", 9, 3, 4, 3, 2, 1)
    xt, c_prev = x[:, :, 0], np.random.default_rng(1).standard_normal((4, 2))
    wa, wc = np.random.default_rng(2).standard_normal((2, 4, 2))

    def cost():
        a_next, c_next, _, _ = ru.lstm_cell_forward(xt, a_prev, c_prev, p)
        return float(np.sum(wa * a_next) + np.sum(wc * c_next))

    grads = ru.lstm_cell_backward(wa, wc, ru.lstm_cell_forward(xt, a_prev, c_prev, p)[3])
    inputs = {k: p[k] for k in p if k not in ("Wy", "by")} | {"xt": xt, "a_prev": a_prev, "c_prev": c_prev}
    errors = ru.grad_check(cost, inputs, grads)
    assert max(errors.values()) < TOLERANCE, errors


def test_gru_cell_backward_passes_gradient_check():
    x, _, c_prev, p, _ = random_problem("gru", 10, 3, 4, 3, 2, 1)
    xt, w = x[:, :, 0], np.random.default_rng(3).standard_normal((4, 2))

    def cost():
        return float(np.sum(w * ru.gru_cell_forward(xt, c_prev, p)[0]))

    grads = ru.gru_cell_backward(w, ru.gru_cell_forward(xt, c_prev, p)[2])
    inputs = {k: p[k] for k in p if k not in ("Wy", "by")} | {"xt": xt, "c_prev": c_prev}
    errors = ru.grad_check(cost, inputs, grads)
    assert max(errors.values()) < TOLERANCE, errors


def test_gru_backward_with_gates_open_is_the_rnn_backward():
    # Γ_u = Γ_r = 1 (test above): the gradients of Wc, bc, x and c0 are the RNN's.
    x, _, c0, p, _ = random_problem("gru", 1, 3, 4, 3, 2, 5)
    p["bu"][:], p["br"][:] = BIG, BIG
    w = np.random.default_rng(4).standard_normal((4, 2, 5))
    grads = ru.gru_backward(w, ru.gru_forward(x, c0, p)[2])
    rnn = {"Waa": p["Wc"][:, :4], "Wax": p["Wc"][:, 4:], "ba": p["bc"], "Wya": p["Wy"], "by": p["by"]}
    ref = ru.rnn_backward(w, ru.rnn_forward(x, c0, rnn)[2])
    np.testing.assert_allclose(grads["dWc"], np.hstack([ref["dWaa"], ref["dWax"]]), rtol=1e-12)
    for k, k_rnn in (("dbc", "dba"), ("dx", "dx"), ("dc0", "da0")):
        np.testing.assert_allclose(grads[k], ref[k_rnn], rtol=1e-12, err_msg=k)


def test_backward_input_checks():
    x, _, a0, p, _ = random_problem("lstm", 0, 3, 4, 3, 2, 5)
    _, _, _, caches = ru.lstm_forward(x, a0, p)
    with pytest.raises(ValueError, match=r"da must have shape \(n_a, m, T_x\) = \(4, 2, 5\); got \(4, 2\)"):
        ru.lstm_backward(np.zeros((4, 2)), caches)
    with pytest.raises(ValueError, match="caches must be what lstm_forward returned; got tuple"):
        ru.lstm_backward(
            np.zeros((4, 2, 5)),
            ru.gru_forward(x, a0, ru.init_gru_params(3, 4, 3, np.random.default_rng(0)))[2],
        )
    with pytest.raises(ValueError, match=r"dc_next must have shape \(n_a, m\) = \(4, 2\); got \(4, 3\)"):
        ru.lstm_cell_backward(np.zeros((4, 2)), np.zeros((4, 3)), caches[0][0])
    with pytest.raises(ValueError, match="cache must be what gru_cell_forward returned; got dict"):
        ru.gru_cell_backward(np.zeros((4, 2)), caches[0][0])
    with pytest.raises(ValueError, match="dc must contain only finite numbers"):
        ru.gru_backward(
            np.full((4, 2, 5), np.inf),
            ru.gru_forward(x, a0, ru.init_gru_params(3, 4, 3, np.random.default_rng(0)))[2],
        )


# ---------------------------------------------------------------------------
# The whole model: loss and gradients
# ---------------------------------------------------------------------------


def loss_and_grads(cell, x, y, h0, p, mask=None):
    """J, grads and the carried state (c_last, or the pair (a_last, c_last))."""
    if cell == "gru":
        return ru.gru_loss_and_grads(x, y, h0, p, mask=mask)
    J, grads, a_last, c_last = ru.lstm_loss_and_grads(x, y, h0, p, mask=mask)
    return J, grads, (a_last, c_last)


def loss_errors(cell, shape, seed, masked):
    """grad_check of the full model over every parameter and the first state."""
    x, y, h0, p, mask = random_problem(cell, seed, *shape, masked=masked)
    J, grads, _ = loss_and_grads(cell, x, y, h0, p, mask)
    h0_name = "c0" if cell == "gru" else "a0"
    assert sorted(grads) == sorted(["d" + k for k in p] + ["d" + h0_name])
    inputs = dict(p) | {h0_name: h0}
    assert all(grads["d" + k].shape == v.shape for k, v in inputs.items())
    return ru.grad_check(lambda: loss_and_grads(cell, x, y, h0, p, mask)[0], inputs, grads)


@pytest.mark.parametrize("masked", [False, True], ids=["no-mask", "mask"])
@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_loss_and_grads_pass_gradient_check(cell, shape, masked):
    errors = loss_errors(cell, shape, SHAPES.index(shape), masked)
    assert max(errors.values()) < TOLERANCE, errors


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_loss_is_the_cross_entropy_of_the_forward_pass(cell):
    x, y, h0, p, mask = random_problem(cell, 12, 3, 4, 3, 3, 5, masked=True)
    J, _, last = loss_and_grads(cell, x, y, h0, p, mask)
    h, y_hat, _ = forward(cell, x, h0, p)
    assert J == pytest.approx(ru.cross_entropy(y_hat, y, mask), rel=1e-12)
    assert J != pytest.approx(ru.cross_entropy(y_hat, y), rel=1e-3)  # the mask matters here
    np.testing.assert_array_equal(last[0] if cell == "lstm" else last, h[:, :, -1])


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_mask_ignores_padded_steps(cell):
    # Example 0 has 3 real steps then padding filled with noise: its masked loss
    # and gradients are those of the 3 real steps alone.
    x, y, h0, p, _ = random_problem(cell, 13, 3, 4, 3, 1, 5)
    mask = np.array([[1.0, 1.0, 1.0, 0.0, 0.0]])
    J, grads, _ = loss_and_grads(cell, x, y, h0, p, mask)
    J_short, grads_short, _ = loss_and_grads(cell, x[:, :, :3], y[:, :, :3], h0, p)
    J_all, _, _ = loss_and_grads(cell, x, y, h0, p)
    assert J == pytest.approx(J_short, rel=1e-13) and J_all > J + 0.1
    for k in grads:
        np.testing.assert_allclose(grads[k], grads_short[k], rtol=1e-12, atol=1e-15, err_msg=k)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_carried_state_splits_a_sequence_into_chunks(cell):
    # Truncated BPTT: two chunks, the second starting from the first's last state,
    # cost as much as the whole sequence at once.
    x, y, h0, p, _ = random_problem(cell, 14, 3, 4, 3, 2, 6)
    J_whole, _, last_whole = loss_and_grads(cell, x, y, h0, p)
    J1, _, last = loss_and_grads(cell, x[:, :, :4], y[:, :, :4], h0, p)
    if cell == "gru":
        J2, _, last = ru.gru_loss_and_grads(x[:, :, 4:], y[:, :, 4:], last, p)
        np.testing.assert_allclose(last, last_whole, rtol=1e-13)
    else:
        J2, _, a_last, c_last = ru.lstm_loss_and_grads(x[:, :, 4:], y[:, :, 4:], last[0], p, c0=last[1])
        np.testing.assert_allclose(a_last, last_whole[0], rtol=1e-13)
        np.testing.assert_allclose(c_last, last_whole[1], rtol=1e-13)
    assert J1 + J2 == pytest.approx(J_whole, rel=1e-13)


def test_loss_input_checks():
    x, y, c0, p, _ = random_problem("gru", 0, 3, 4, 3, 2, 5)
    with pytest.raises(ValueError, match=r"y must have shape \(n_y, m, T_y\) = \(3, 2, 5\); got \(3, 2, 4\)"):
        ru.gru_loss_and_grads(x, y[:, :, :4], c0, p)
    with pytest.raises(ValueError, match=r"mask must have shape \(m, T_y\) = \(2, 5\); got \(5, 2\)"):
        ru.gru_loss_and_grads(x, y, c0, p, mask=np.ones((5, 2)))
    x, y, a0, p, _ = random_problem("lstm", 0, 3, 4, 3, 2, 5)
    with pytest.raises(ValueError, match="mask must contain only finite numbers"):
        ru.lstm_loss_and_grads(x, y, a0, p, mask=np.full((2, 5), np.nan))
    with pytest.raises(ValueError, match=r"params must have keys .*; missing \['Wy'\]"):
        ru.lstm_loss_and_grads(x, y, a0, {k: v for k, v in p.items() if k != "Wy"})
