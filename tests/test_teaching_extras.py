"""Unit tests of notebook 5's pieces in rnn_utils: the optimizer updates
(hand-computed steps, descent, in-place use on a flat float32 buffer) and
sampling (greedy decoding, frequencies under a temperature, bad input)."""

import math

import numpy as np
import pytest

import rnn_utils as ru

# ---------------------------------------------------------------------------
# Optimizer updates by hand
# ---------------------------------------------------------------------------


def test_sgd_step_by_hand_pure_and_in_place():
    param, grad = np.array([1.0, -2.0]), np.array([0.5, 4.0])
    new = ru.sgd_update(param, grad, lr=0.1)
    assert new == pytest.approx([0.95, -2.4])
    assert param.tolist() == [1.0, -2.0]  # pure: the input is unchanged
    same = ru.sgd_update(param, grad, lr=0.1, inplace=True)
    assert same is param and param == pytest.approx([0.95, -2.4])


def test_adagrad_first_two_steps_by_hand():
    g1, g2 = np.array([2.0, -0.5, 0.0]), np.array([1.0, 1.0, 3.0])
    param = np.zeros(3)
    state = ru.init_adagrad_state(param)
    assert state["s"].tolist() == [0.0, 0.0, 0.0]
    lr, eps = 0.1, 1e-8
    param1, state1 = ru.adagrad_update(param, g1, state, lr, eps=eps)
    # first step: s = g^2, so the step is lr * g / (|g| + eps), about lr * sign(g)
    assert param1 == pytest.approx(-lr * g1 / (np.abs(g1) + eps), rel=1e-15)
    assert param1 == pytest.approx([-0.1, 0.1, 0.0])
    assert state1["s"].tolist() == [4.0, 0.25, 0.0]
    assert state["s"].tolist() == [0.0, 0.0, 0.0] and param.tolist() == [0.0, 0.0, 0.0]  # pure
    param2, state2 = ru.adagrad_update(param1, g2, state1, lr, eps=eps)
    assert state2["s"].tolist() == [5.0, 1.25, 9.0]
    expected = param1 - lr * g2 / (np.sqrt([5.0, 1.25, 9.0]) + eps)
    assert param2 == pytest.approx(expected, rel=1e-15)


def test_adam_first_step_is_about_lr_times_the_sign_of_the_gradient():
    grad = np.array([3.0, -1e-3, 50.0, -7.0])
    param, lr = np.ones(4), 0.01
    new, state = ru.adam_update(param, grad, ru.init_adam_state(param), lr)
    assert state["t"] == 1
    assert new - param == pytest.approx(-lr * np.sign(grad), rel=1e-3)
    # exactly: m = 0.1 g, v = 0.001 g^2, lr_1 = lr sqrt(0.001) / 0.1
    exact = lr * math.sqrt(0.001) / 0.1 * (0.1 * grad) / (np.sqrt(0.001) * np.abs(grad) + 1e-8)
    assert new == pytest.approx(param - exact, rel=1e-15)


def test_adam_two_steps_by_hand():
    lr = 0.1
    param = np.array([1.0])
    state = ru.init_adam_state(param)
    assert state["m"].tolist() == [0.0] and state["v"].tolist() == [0.0] and state["t"] == 0
    # step 1, g = 1: m = 0.1, v = 0.001, lr_1 = 0.1 * sqrt(0.001) / 0.1 = sqrt(0.001)
    param, state = ru.adam_update(param, np.array([1.0]), state, lr)
    step1 = math.sqrt(0.001) * 0.1 / (math.sqrt(0.001) + 1e-8)  # 0.1 (1 - 3.2e-7)
    assert param[0] == pytest.approx(1.0 - step1, rel=1e-15)
    # step 2, g = -0.5: m = 0.9 * 0.1 - 0.05 = 0.04, v = 0.999 * 0.001 + 0.001 * 0.25 = 0.001249,
    # lr_2 = 0.1 * sqrt(1 - 0.999^2) / (1 - 0.9^2) = 0.1 * sqrt(0.001999) / 0.19
    param, state = ru.adam_update(param, np.array([-0.5]), state, lr)
    assert state["t"] == 2
    assert state["m"][0] == pytest.approx(0.04, rel=1e-14)
    assert state["v"][0] == pytest.approx(0.001249, rel=1e-14)
    step2 = 0.1 * math.sqrt(0.001999) / 0.19 * 0.04 / (math.sqrt(0.001249) + 1e-8)
    assert param[0] == pytest.approx(1.0 - step1 - step2, rel=1e-13)
    assert param[0] == pytest.approx(0.8733663351928884, rel=1e-13)


# ---------------------------------------------------------------------------
# Descent, and the in-place path on a flat float32 buffer
# ---------------------------------------------------------------------------

OPTIMIZERS = {
    "sgd": (lambda p: None, lambda p, g, s, **kw: (ru.sgd_update(p, g, 0.05, **kw), s)),
    "adagrad": (ru.init_adagrad_state, lambda p, g, s, **kw: ru.adagrad_update(p, g, s, 0.05, **kw)),
    "adam": (ru.init_adam_state, lambda p, g, s, **kw: ru.adam_update(p, g, s, 0.01, **kw)),
}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_each_optimizer_lowers_the_cost_of_a_small_rnn(name):
    """Gradient descent sanity: 150 updates of every parameter on one small
    batch (a params dict, one state per array) lower the cost a lot."""
    init_state, update = OPTIMIZERS[name]
    rng = np.random.default_rng(0)
    n_x, n_a, m, T_x = 4, 8, 3, 6
    params = ru.init_params(n_x, n_a, n_x, rng, scale=0.3)
    x = ru.one_hot(rng.integers(0, n_x, (m, T_x)), n_x)
    y = ru.one_hot(rng.integers(0, n_x, (m, T_x)), n_x)
    a0 = np.zeros((n_a, m))
    states = {k: init_state(params[k]) for k in params}
    J0 = ru.rnn_loss_and_grads(x, y, a0, params)[0]
    for _ in range(150):
        J, grads, _ = ru.rnn_loss_and_grads(x, y, a0, params)
        for k in params:
            params[k], states[k] = update(params[k], grads["d" + k], states[k])
    assert J < 0.5 * J0, (J0, J)


def trainer_adam_step(flat, gflat, moment1, moment2, scratch, step, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    """The fast trainer's Adam step as char_trainer wrote it before it called adam_update (a scratch buffer)."""
    moment1 *= beta1
    moment1 += (1 - beta1) * gflat
    moment2 *= beta2
    np.multiply(gflat, gflat, out=scratch)
    moment2 += (1 - beta2) * scratch
    step_size = lr * np.sqrt(1 - beta2**step) / (1 - beta1**step)
    np.sqrt(moment2, out=scratch)
    scratch += eps
    np.divide(moment1, scratch, out=scratch)
    scratch *= step_size
    flat -= scratch


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_in_place_on_a_flat_float32_buffer_gives_the_numbers_of_the_dict_use(name):
    init_state, update = OPTIMIZERS[name]
    rng = np.random.default_rng(1)
    params = ru.init_params(5, 7, 5, rng, scale=0.5, dtype=np.float32)
    params["ba"] = rng.standard_normal((7, 1)).astype(np.float32)
    # The flat buffer holds every parameter; views into it share its memory.
    flat = np.concatenate([v.ravel() for v in params.values()])
    views, offset = {}, 0
    for k, v in params.items():
        views[k] = flat[offset : offset + v.size].reshape(v.shape)
        offset += v.size
    flat_state = init_state(flat)
    states = {k: init_state(params[k]) for k in params}
    for _ in range(4):
        grads = {k: rng.standard_normal(v.shape).astype(np.float32) for k, v in params.items()}
        gflat = np.concatenate([grads[k].ravel() for k in params])
        before = {k: v.copy() for k, v in params.items()}
        for k in params:
            new, states[k] = update(params[k], grads[k], states[k])
            assert np.array_equal(params[k], before[k])  # the pure path leaves its input alone
            params[k] = new
        out, out_state = update(flat, gflat, flat_state, inplace=True)
        assert out is flat and out_state is flat_state  # written into, not copied
    assert flat.dtype == np.float32 and all(v.dtype == np.float32 for v in params.values())
    for k in params:
        assert np.array_equal(views[k], params[k]), k  # the same float32 numbers, bit for bit


def test_adam_in_place_equals_the_trainers_scratch_buffer_step_bit_for_bit():
    rng = np.random.default_rng(2)
    flat = rng.standard_normal(30_000).astype(np.float32)
    ref, moment1, moment2, scratch = flat.copy(), *(np.zeros_like(flat) for _ in range(3))
    state = ru.init_adam_state(flat)
    for step in range(1, 6):
        gflat = rng.standard_normal(flat.size).astype(np.float32)
        ru.adam_update(flat, gflat, state, 2e-3, inplace=True)
        trainer_adam_step(ref, gflat, moment1, moment2, scratch, step, 2e-3)
    assert state["t"] == 5
    assert (
        np.array_equal(flat, ref)
        and np.array_equal(state["m"], moment1)
        and np.array_equal(state["v"], moment2)
    )


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda p, g: ru.sgd_update([1.0, 2.0], g, 0.1),
            r"param must be a numpy array of floats .*; got list",
        ),
        (
            lambda p, g: ru.sgd_update(np.array([1, 2]), g, 0.1),
            r"param must be a numpy array of floats \(float32 or float64\); got dtype int64",
        ),
        (lambda p, g: ru.sgd_update(p, g[:1], 0.1), r"grad must have the shape of param, \(2,\); got \(1,\)"),
        (lambda p, g: ru.sgd_update(p, g, 0.0), "lr must be a positive finite number; got 0.0"),
        (lambda p, g: ru.sgd_update(p, g, float("nan")), "lr must be a positive finite number; got nan"),
        (lambda p, g: ru.sgd_update(p, g, "0.1"), "lr must be a positive finite number; got '0.1'"),
        (
            lambda p, g: ru.adagrad_update(p, g, {}, 0.1),
            r"state must be a dict with keys \['s'\], as init_adagrad_state\(param\) makes; missing \['s'\]",
        ),
        (
            lambda p, g: ru.adam_update(p, g, None, 0.1),
            r"state must be a dict with keys \['m', 't', 'v'\], as init_adam_state\(param\) makes; got NoneType",
        ),
        (
            lambda p, g: ru.adam_update(p, g, {"m": np.zeros(3), "v": np.zeros(2), "t": 0}, 0.1),
            r"state\['m'\] must have the shape of param, \(2,\); got \(3,\)",
        ),
        (
            lambda p, g: ru.adam_update(p, g, dict(ru.init_adam_state(p), t=-1), 0.1),
            r"state\['t'\] must be a step count, an integer >= 0; got -1",
        ),
        (
            lambda p, g: ru.adam_update(p, g, ru.init_adam_state(p), 0.1, beta1=1.0),
            r"beta1 must be a number in \[0, 1\); got 1.0",
        ),
        (
            lambda p, g: ru.adam_update(p, g, ru.init_adam_state(p), 0.1, beta2=-0.5),
            r"beta2 must be a number in \[0, 1\); got -0.5",
        ),
        (
            lambda p, g: ru.adagrad_update(p, g, ru.init_adagrad_state(p), 0.1, eps=0),
            "eps must be a positive finite number; got 0",
        ),
        (lambda p, g: ru.init_adam_state([0.0]), "param must be a numpy array of floats .*; got list"),
    ],
)
def test_updates_reject_bad_inputs(call, message):
    with pytest.raises(ValueError, match=message):
        call(np.array([1.0, 2.0]), np.array([0.5, 0.5]))


# ---------------------------------------------------------------------------
# Sampling
# ---------------------------------------------------------------------------


def sampling_params(seed, n_x=5, n_a=4, scale=1.0):
    rng = np.random.default_rng(seed)
    params = ru.init_params(n_x, n_a, n_x, rng, scale=scale)
    params["ba"], params["by"] = rng.standard_normal((n_a, 1)), rng.standard_normal((n_x, 1))
    return params, rng


@pytest.mark.parametrize("first_id", [None, 2])
def test_greedy_sampling_is_the_argmax_of_rnn_forward_fed_its_own_outputs(first_id):
    params, rng = sampling_params(3, scale=2.0)  # weights large enough for the input to matter
    a0 = rng.standard_normal((4, 1))
    ids = ru.sample(params, 12, np.random.default_rng(0), temperature=0, a0=a0, first_id=first_id)
    # The first input is one_hot(first_id), or all zeros; each later input is the previous argmax.
    inputs = [np.zeros(5) if first_id is None else ru.one_hot([first_id], 5)[:, 0]]
    expected = []
    for _ in range(12):
        x = np.stack(inputs, axis=1)[:, np.newaxis, :]  # (n_x, 1, steps so far)
        _, y_hat, _ = ru.rnn_forward(x, a0, params)
        expected.append(int(np.argmax(y_hat[:, 0, -1])))
        inputs.append(ru.one_hot([expected[-1]], 5)[:, 0])
    assert ids == expected
    assert all(isinstance(i, int) for i in ids)
    assert len(set(ids)) >= 3  # not stuck on one id, so reading each id back is tested


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_sampling_frequencies_follow_softmax_of_the_logits_over_the_temperature(temperature):
    # With Waa = Wax = 0 every step has the same state tanh(ba), so the same
    # logits z = Wya tanh(ba) + by, and the draws are independent.
    params = {
        "Waa": np.zeros((2, 2)),
        "Wax": np.zeros((2, 3)),
        "Wya": np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 1.0]]),
        "ba": np.array([[0.5], [-1.0]]),
        "by": np.array([[0.2], [0.0], [-0.3]]),
    }
    z = params["Wya"] @ np.tanh(params["ba"][:, 0]) + params["by"][:, 0]
    expected = np.exp(z / temperature) / np.exp(z / temperature).sum()
    n = 8_000  # 5 standard errors are then about 0.02 or less; the three cases differ by more
    ids = ru.sample(params, n, np.random.default_rng(7), temperature=temperature)
    freq = np.bincount(ids, minlength=3) / n
    sigma = np.sqrt(expected * (1 - expected) / n)
    assert np.all(np.abs(freq - expected) < 5 * sigma), (freq, expected)


def test_sampling_is_reproducible_and_depends_on_the_generator():
    params, _ = sampling_params(4)
    a = ru.sample(params, 40, np.random.default_rng(1))
    assert a == ru.sample(params, 40, np.random.default_rng(1))
    assert a != ru.sample(params, 40, np.random.default_rng(2))
    assert ru.sample(params, 0, np.random.default_rng(1)) == []
    assert set(a) <= set(range(5))
    # A tiny temperature is greedy in practice, without underflowing to NaN.
    greedy = ru.sample(params, 10, np.random.default_rng(3), temperature=0)
    assert ru.sample(params, 10, np.random.default_rng(3), temperature=1e-3) == greedy


@pytest.mark.parametrize(
    "change, message",
    [
        ({"n_chars": -1}, "n_chars must be a non-negative integer; got -1"),
        ({"n_chars": 2.0}, "n_chars must be a non-negative integer; got 2.0"),
        ({"rng": 0}, "rng must be a numpy.random.Generator .*; got int"),
        ({"temperature": -0.5}, r"temperature must be a finite number >= 0; got -0.5"),
        ({"temperature": float("inf")}, r"temperature must be a finite number >= 0; got inf"),
        ({"a0": np.zeros((4, 2))}, r"a0 must have shape \(n_a, 1\) = \(4, 1\); got \(4, 2\)"),
        ({"first_id": 5}, r"first_id must lie in \[0, n_x\) = \[0, 5\); got 5"),
        ({"first_id": 1.0}, "first_id must be an integer id or None; got 1.0"),
        ({"g1": "sigmoid"}, r"g1 must be one of \['relu', 'tanh'\]; got 'sigmoid'"),
    ],
)
def test_sample_rejects_bad_inputs(change, message):
    params, _ = sampling_params(5)
    args = {"params": params, "n_chars": 3, "rng": np.random.default_rng(0)} | change
    with pytest.raises(ValueError, match=message):
        ru.sample(**args)


def test_sample_needs_as_many_outputs_as_inputs():
    params = ru.init_params(3, 4, 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="params must have n_x == n_y .*; got n_x = 3, n_y = 2"):
        ru.sample(params, 3, np.random.default_rng(0))


def test_clip_gradients_in_place_changes_the_arrays_given_and_matches_the_copying_path():
    rng = np.random.default_rng(7)
    grads = {"dWaa": rng.standard_normal((4, 4)), "dby": rng.standard_normal((3, 1)) * 10}
    expected = ru.clip_gradients(grads, max_value=8.0, max_norm=2.0)
    before = {k: v.copy() for k, v in grads.items()}
    out = ru.clip_gradients(grads, max_value=8.0, max_norm=2.0, inplace=True)
    for k in grads:
        assert out[k] is grads[k]  # the same array, changed
        assert np.array_equal(grads[k], expected[k])
        assert not np.array_equal(grads[k], before[k])
    flat = np.float32([3.0, 4.0])  # norm 5: the trainer's flat buffer
    ru.clip_gradients({"all": flat}, max_norm=1.0, inplace=True)
    np.testing.assert_allclose(flat, [0.6, 0.8], rtol=1e-6)
    with pytest.raises(ValueError, match=r"grads\['g'\] must be a numpy array of floats .*; got list"):
        ru.clip_gradients({"g": [1.0, 2.0]}, max_norm=1.0, inplace=True)


def test_cross_entropy_from_logits_equals_cross_entropy_of_softmax_and_stays_exact_far_out():
    rng = np.random.default_rng(11)
    z = rng.standard_normal((5, 3, 4)) * 3
    y = ru.one_hot(rng.integers(0, 5, (3, 4)), 5)
    mask = np.ones((3, 4))
    mask[1, 2:] = 0
    expected = ru.cross_entropy(ru.softmax(z), y, mask)
    assert ru.cross_entropy_from_logits(z, y, mask) == pytest.approx(expected, rel=1e-12)
    # a confident wrong answer: the right class 2000 nats below the best one
    far = np.array([[0.0], [2000.0]])
    wrong = np.array([[1.0], [0.0]])
    assert ru.cross_entropy_from_logits(far, wrong) == pytest.approx(2000.0, rel=1e-12)
    assert ru.cross_entropy(ru.softmax(far), wrong) < 710  # probability 0: clamped at -log(tiny)
    with pytest.raises(ValueError, match=r"z must have shape \(n_y, m, T_y\), or \(n_y, m\) for one step"):
        ru.cross_entropy_from_logits(np.zeros(3), np.zeros(3))


def test_char_model_scores_a_confidently_wrong_model_exactly():
    import char_trainer as ct

    vocab = ru.CharVocab("ab")
    params = ru.init_params(2, 3, 2, np.random.default_rng(0))
    params["by"] = np.array(
        [[0.0], [300.0]], dtype=np.float32
    )  # always 'b', by 300 nats; float32 softmax gives 0
    params = {k: v.astype(np.float32) for k, v in params.items()}
    model = ct.CharModel(vocab, params)
    # after 'a' comes 'a' (wrong by about 300 nats), after the second 'a' comes 'b' (right)
    assert model.loss("aab") == pytest.approx(300.0 / 2, rel=1e-3)


def test_a_work_array_changes_nothing_but_the_scratch():
    rng = np.random.default_rng(5)
    param = rng.standard_normal(50).astype(np.float32)
    grads = [rng.standard_normal(50).astype(np.float32) for _ in range(3)]
    for update, init in ((ru.adam_update, ru.init_adam_state), (ru.adagrad_update, ru.init_adagrad_state)):
        plain, with_work = param.copy(), param.copy()
        s1, s2, work = init(param), init(param), np.empty_like(param)
        for g in grads:
            update(plain, g, s1, 0.01, inplace=True)
            update(with_work, g, s2, 0.01, inplace=True, work=work)
        assert np.array_equal(plain, with_work)
        with pytest.raises(ValueError, match=r"work must be None or an array of param's dtype and shape"):
            update(with_work, grads[0], s2, 0.01, inplace=True, work=np.empty(50))  # float64, not float32
