"""Tests of backpropagation through time in rnn_utils: hand-computed steps,
finite-difference gradient checks in float64, an independent implementation,
clipping and the input checks."""

import math

import numpy as np
import pytest

import rnn_utils as ru

TOLERANCE = 1e-7  # relative error below which an analytic gradient is right


def random_problem(seed, n_x, n_a, n_y, m, T_x, g2, masked, scale=0.5):
    """Random parameters (biases included), inputs, targets and mask."""
    rng = np.random.default_rng(seed)
    params = ru.init_params(n_x, n_a, n_y, rng, scale=scale)
    params["ba"] = 0.5 * rng.standard_normal((n_a, 1))
    params["by"] = 0.5 * rng.standard_normal((n_y, 1))
    x = rng.standard_normal((n_x, m, T_x))
    a0 = 0.5 * rng.standard_normal((n_a, m))
    if g2 == "softmax":
        y = ru.one_hot(rng.integers(0, n_y, size=(m, T_x)), n_y)
    else:
        y = (rng.random((n_y, m, T_x)) < 0.5).astype(float)
    mask = None
    if masked:
        lengths = rng.integers(1, T_x + 1, size=m)  # padding at the end, as pad_batch makes it
        mask = (np.arange(T_x) < lengths[:, None]).astype(float)
    return x, y, a0, params, mask


SHAPES = [  # (n_x, n_a, n_y, m, T_x)
    (3, 4, 3, 2, 5),
    (2, 3, 2, 1, 1),  # m = 1 and T_x = 1
    (4, 5, 1, 3, 4),  # one sigmoid unit per step
    (5, 2, 5, 1, 6),  # m = 1
    (3, 6, 4, 4, 1),  # T_x = 1
    (6, 5, 6, 3, 7),
]


@pytest.mark.parametrize("masked", [False, True], ids=["no-mask", "mask"])
@pytest.mark.parametrize("g2", ["softmax", "sigmoid"])
@pytest.mark.parametrize("g1", ["tanh", "relu"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_rnn_loss_and_grads_pass_gradient_check(shape, g1, g2, masked):
    seed = SHAPES.index(shape)
    x, y, a0, params, mask = random_problem(seed, *shape, g2=g2, masked=masked)
    J, grads, a_last = ru.rnn_loss_and_grads(x, y, a0, params, g1=g1, g2=g2, mask=mask)
    assert {k: v.shape for k, v in grads.items()} == {
        "dWaa": params["Waa"].shape,
        "dWax": params["Wax"].shape,
        "dWya": params["Wya"].shape,
        "dba": params["ba"].shape,
        "dby": params["by"].shape,
        "da0": a0.shape,
    }

    def cost():
        return ru.rnn_loss_and_grads(x, y, a0, params, g1=g1, g2=g2, mask=mask)[0]

    errors = ru.grad_check(cost, dict(params, a0=a0), grads)
    assert max(errors.values()) < TOLERANCE, errors


@pytest.mark.parametrize("g1", ["tanh", "relu"])
def test_rnn_backward_input_gradient_passes_gradient_check(g1):
    x, y, a0, params, _ = random_problem(7, 3, 4, 3, 2, 5, g2="softmax", masked=False)
    # J = sum of (fixed random weights * hidden states) makes da constant.
    w = np.random.default_rng(8).standard_normal((4, 2, 5))

    def cost():
        return float(np.sum(w * ru.rnn_forward(x, a0, params, g1=g1)[0]))

    _, _, caches = ru.rnn_forward(x, a0, params, g1=g1)
    grads = ru.rnn_backward(w, caches)
    assert grads["dx"].shape == x.shape and grads["da0"].shape == a0.shape
    errors = ru.grad_check(
        cost, {"x": x, "a0": a0, "Waa": params["Waa"], "Wax": params["Wax"], "ba": params["ba"]}, grads
    )
    assert max(errors.values()) < TOLERANCE, errors


def independent_loss_and_grads(x, y, a0, params, g1, g2, mask):
    """A second, deliberately different implementation: one example at a time,
    one scalar loop over steps, the full Jacobian of each step written out."""
    n_x, m, T_x = x.shape
    mask = np.ones((m, T_x)) if mask is None else mask
    Waa, Wax, Wya, ba, by = (params[k] for k in ("Waa", "Wax", "Wya", "ba", "by"))
    J = 0.0
    grads = {k: np.zeros_like(params[k[1:]]) for k in ("dWaa", "dWax", "dWya", "dba", "dby")}
    grads["da0"] = np.zeros_like(a0)
    for i in range(m):
        a_list, z_list = [a0[:, i]], []
        for t in range(T_x):
            z = Waa @ a_list[-1] + Wax @ x[:, i, t] + ba[:, 0]
            z_list.append(z)
            a_list.append(np.tanh(z) if g1 == "tanh" else np.maximum(z, 0))
        # gradient of J with respect to each a^<t>, accumulated right to left
        carry = np.zeros(a0.shape[0])
        for t in range(T_x - 1, -1, -1):
            a_t = a_list[t + 1]
            logits = Wya @ a_t + by[:, 0]
            if g2 == "softmax":
                p = np.exp(logits - logits.max())
                p /= p.sum()
                loss = -math.log(p[np.argmax(y[:, i, t])])
                dlogits = p - y[:, i, t]
            else:
                p = 1 / (1 + np.exp(-logits))
                loss = float(
                    np.sum(np.logaddexp(0, -logits) * y[:, i, t] + np.logaddexp(0, logits) * (1 - y[:, i, t]))
                )
                dlogits = p - y[:, i, t]
            J += mask[i, t] * loss
            dlogits = dlogits * mask[i, t]
            grads["dWya"] += np.outer(dlogits, a_t)
            grads["dby"][:, 0] += dlogits
            da = Wya.T @ dlogits + carry
            jac = np.diag(1 - a_t**2) if g1 == "tanh" else np.diag((z_list[t] > 0).astype(float))
            dz = jac @ da
            grads["dWaa"] += np.outer(dz, a_list[t])
            grads["dWax"] += np.outer(dz, x[:, i, t])
            grads["dba"][:, 0] += dz
            carry = Waa.T @ dz
        grads["da0"][:, i] = carry
    return J, grads


@pytest.mark.parametrize("g2", ["softmax", "sigmoid"])
@pytest.mark.parametrize("g1", ["tanh", "relu"])
def test_rnn_loss_and_grads_match_an_independent_implementation(g1, g2):
    x, y, a0, params, mask = random_problem(11, 4, 6, 3, 3, 6, g2=g2, masked=True, scale=0.9)
    J, grads, _ = ru.rnn_loss_and_grads(x, y, a0, params, g1=g1, g2=g2, mask=mask)
    J_ref, grads_ref = independent_loss_and_grads(x, y, a0, params, g1, g2, mask)
    assert J == pytest.approx(J_ref, rel=1e-12)
    for k in grads_ref:
        np.testing.assert_allclose(grads[k], grads_ref[k], rtol=1e-10, atol=1e-12, err_msg=k)


def test_cost_equals_the_loss_functions_and_a_last_is_the_final_state():
    for g2, loss in (("softmax", ru.cross_entropy), ("sigmoid", ru.binary_cross_entropy)):
        x, y, a0, params, mask = random_problem(3, 3, 4, 3, 2, 5, g2=g2, masked=True)
        J, _, a_last = ru.rnn_loss_and_grads(x, y, a0, params, g2=g2, mask=mask)
        a, y_hat, _ = ru.rnn_forward(x, a0, params, g2=g2)
        assert J == pytest.approx(loss(y_hat, y, mask), rel=1e-12)
        assert np.array_equal(a_last, a[:, :, -1])


def test_a_mask_of_ones_is_no_mask_and_masked_steps_do_not_count():
    x, y, a0, params, _ = random_problem(5, 3, 4, 3, 2, 5, g2="softmax", masked=False)
    J, grads, _ = ru.rnn_loss_and_grads(x, y, a0, params)
    J1, grads1, _ = ru.rnn_loss_and_grads(x, y, a0, params, mask=np.ones((2, 5)))
    assert J == J1 and all(np.array_equal(grads[k], grads1[k]) for k in grads)
    mask = np.ones((2, 5))
    mask[:, 3:] = 0
    Jm, gm, _ = ru.rnn_loss_and_grads(x, y, a0, params, mask=mask)
    Js, gs, _ = ru.rnn_loss_and_grads(x[:, :, :3], y[:, :, :3], a0, params)
    assert Jm == pytest.approx(Js, rel=1e-12)
    for k in gm:
        np.testing.assert_allclose(gm[k], gs[k], rtol=1e-12, atol=1e-15)


def test_truncated_bptt_chunks_carry_the_state():
    x, y, a0, params, _ = random_problem(6, 3, 4, 3, 2, 8, g2="softmax", masked=False)
    J_full, _, a_full = ru.rnn_loss_and_grads(x, y, a0, params)
    J1, _, a_mid = ru.rnn_loss_and_grads(x[:, :, :5], y[:, :, :5], a0, params)
    J2, _, a_end = ru.rnn_loss_and_grads(x[:, :, 5:], y[:, :, 5:], a_mid, params)
    assert J1 + J2 == pytest.approx(J_full, rel=1e-12)
    np.testing.assert_allclose(a_end, a_full, rtol=1e-12)


def hand_cache():
    params = {
        "Waa": np.array([[2.0]]),
        "Wax": np.array([[math.atanh(0.5)]]),
        "Wya": np.array([[0.0], [1.0]]),
        "ba": np.array([[0.0]]),
        "by": np.array([[0.0], [0.0]]),
    }
    _, _, cache = ru.rnn_cell_forward(np.array([[1.0]]), np.array([[0.25]]), params)
    return cache


def test_cell_backward_by_hand():
    # z = 2 * 0.25 + atanh(0.5) * 1 = 0.5 + atanh(0.5); a = tanh(z).
    cache = hand_cache()
    a = math.tanh(0.5 + math.atanh(0.5))
    dz = 1.0 * (1 - a**2)  # da_next = 1, times tanh'(z) = 1 - tanh(z)^2
    g = ru.rnn_cell_backward(np.array([[1.0]]), cache)
    assert g["dba"][0, 0] == pytest.approx(dz)
    assert g["dWax"][0, 0] == pytest.approx(dz * 1.0)  # times x^<t>, not x^<t-1>
    assert g["dWaa"][0, 0] == pytest.approx(dz * 0.25)  # times a^<t-1>
    assert g["dxt"][0, 0] == pytest.approx(math.atanh(0.5) * dz)
    assert g["da_prev"][0, 0] == pytest.approx(2.0 * dz)
    # The upstream gradient scales every result: twice da_next, twice each gradient.
    g2 = ru.rnn_cell_backward(np.array([[2.0]]), cache)
    assert all(np.allclose(g2[k], 2 * g[k]) for k in g)


def test_relu_cell_backward_passes_only_positive_units():
    params = ru.init_params(2, 3, 2, np.random.default_rng(0))
    params["Wax"] = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0]])
    _, _, cache = ru.rnn_cell_forward(np.array([[1.0], [0.5]]), np.zeros((3, 1)), params, g1="relu")
    g = ru.rnn_cell_backward(np.ones((3, 1)), cache)
    assert g["dba"][:, 0].tolist() == [1.0, 0.0, 1.0]


def test_rnn_backward_single_step_equals_cell_backward():
    x, _, a0, params, _ = random_problem(2, 3, 4, 3, 2, 1, g2="softmax", masked=False)
    _, _, caches = ru.rnn_forward(x, a0, params)
    da = np.random.default_rng(1).standard_normal((4, 2, 1))
    whole = ru.rnn_backward(da, caches)
    step = ru.rnn_cell_backward(da[:, :, 0], caches[0][0])
    assert np.array_equal(whole["dx"][:, :, 0], step["dxt"])
    assert np.array_equal(whole["da0"], step["da_prev"])
    for k in ("dWax", "dWaa", "dba"):
        assert np.array_equal(whole[k], step[k])


def test_backward_functions_reject_bad_inputs():
    x, _, a0, params, _ = random_problem(2, 3, 4, 3, 2, 5, g2="softmax", masked=False)
    _, _, caches = ru.rnn_forward(x, a0, params)
    with pytest.raises(
        ValueError, match=r"da must have shape \(n_a, m, T_x\) = \(4, 2, 5\); got \(4, 2, 4\)"
    ):
        ru.rnn_backward(np.zeros((4, 2, 4)), caches)
    with pytest.raises(ValueError, match="da must contain only finite numbers"):
        ru.rnn_backward(np.full((4, 2, 5), np.nan), caches)
    with pytest.raises(ValueError, match="caches must be the .* pair returned by rnn_forward; got list"):
        ru.rnn_backward(np.zeros((4, 2, 5)), caches[0])
    with pytest.raises(ValueError, match=r"da_next must have shape \(n_a, m\) = \(4, 2\); got \(2, 4\)"):
        ru.rnn_cell_backward(np.zeros((2, 4)), caches[0][0])
    with pytest.raises(ValueError, match="cache must be a cache returned by rnn_cell_forward"):
        ru.rnn_cell_backward(np.zeros((4, 2)), caches)


def test_loss_and_grads_reject_bad_targets():
    x, y, a0, params, _ = random_problem(2, 3, 4, 3, 2, 5, g2="softmax", masked=False)
    with pytest.raises(ValueError, match=r"y must have shape \(n_y, m, T_y\) = \(3, 2, 5\); got \(3, 2, 4\)"):
        ru.rnn_loss_and_grads(x, y[:, :, :4], a0, params)
    with pytest.raises(ValueError, match=r"mask must have shape \(m, T_y\) = \(2, 5\)"):
        ru.rnn_loss_and_grads(x, y, a0, params, mask=np.ones(5))
    with pytest.raises(ValueError, match="g2 must be one of"):
        ru.rnn_loss_and_grads(x, y, a0, params, g2="relu")


def test_grad_check_catches_a_wrong_gradient_and_refuses_float32():
    w = np.array([1.0, -2.0, 3.0])

    def cost():
        return float(np.sum(w**2))

    assert ru.grad_check(cost, {"w": w}, {"dw": 2 * w})["w"] < 1e-9
    assert ru.grad_check(cost, {"w": w}, {"w": 2 * w})["w"] < 1e-9  # name without "d"
    assert ru.grad_check(cost, {"w": w}, {"dw": w})["w"] == pytest.approx(1 / 3)
    assert ru.grad_check(lambda: 0.0, {"w": w}, {"dw": np.zeros(3)})["w"] == 0.0
    assert w.tolist() == [1.0, -2.0, 3.0]  # restored after nudging
    # A non-contiguous view (a transpose, a slice) is nudged in place too.
    W = np.arange(6.0).reshape(2, 3)

    def cost_w():
        return float(np.sum(W**3))

    assert ru.grad_check(cost_w, {"WT": W.T}, {"dWT": (3 * W**2).T})["WT"] < 1e-9
    assert ru.grad_check(cost_w, {"col": W[:, 1]}, {"dcol": 3 * W[:, 1] ** 2})["col"] < 1e-9

    def broken():
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        ru.grad_check(broken, {"w": w}, {"dw": w})
    assert w.tolist() == [1.0, -2.0, 3.0]  # restored even when loss_fn fails
    with pytest.raises(ValueError, match=r"inputs\['v'\] must be a float64 numpy array .*; got float32"):
        ru.grad_check(cost, {"v": w.astype(np.float32)}, {"dv": w})
    with pytest.raises(ValueError, match=r"grads has no entry 'w' or 'dw'"):
        ru.grad_check(cost, {"w": w}, {})
    with pytest.raises(ValueError, match=r"grads\['dw'\] must have shape"):
        ru.grad_check(cost, {"w": w}, {"dw": np.zeros(2)})
    with pytest.raises(ValueError, match="eps must be a positive finite number; got 0"):
        ru.grad_check(cost, {"w": w}, {"dw": w}, eps=0)


def test_clip_gradients_by_value_by_norm_both_and_neither():
    grads = {"a": np.array([3.0, -4.0]), "b": np.array([[12.0]])}  # joint norm 13
    by_value = ru.clip_gradients(grads, max_value=5.0)
    assert by_value["a"].tolist() == [3.0, -4.0] and by_value["b"].tolist() == [[5.0]]
    by_norm = ru.clip_gradients(grads, max_norm=6.5)  # halves everything
    assert by_norm["a"].tolist() == [1.5, -2.0] and by_norm["b"].tolist() == [[6.0]]
    assert ru.clip_gradients(grads, max_norm=13.0)["b"].tolist() == [[12.0]]  # already within
    both = ru.clip_gradients(grads, max_value=4.0, max_norm=1.0)
    assert both["a"] @ both["a"] + both["b"][0, 0] ** 2 == pytest.approx(1.0)
    untouched = ru.clip_gradients(grads)
    assert untouched["a"] is not grads["a"] and np.array_equal(untouched["a"], grads["a"])
    assert grads["b"].tolist() == [[12.0]]  # inputs are never changed
    with pytest.raises(ValueError, match="max_norm must be a positive finite number or None; got -1"):
        ru.clip_gradients(grads, max_norm=-1)
    with pytest.raises(ValueError, match="grads must be a non-empty dict of arrays"):
        ru.clip_gradients({})
    with pytest.raises(ValueError, match=r"grads\['a'\] must contain only finite numbers"):
        ru.clip_gradients({"a": np.array([np.inf])}, max_value=1.0)
