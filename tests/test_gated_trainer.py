"""Tests of the fast trainer's GRU and LSTM: the fused steps against the
course's teaching functions (rnn_utils.gru_loss_and_grads, lstm_loss_and_grads)
in float64, and the model's loss, hidden states, sampling, files, resuming and
command line for every cell."""

import math

import numpy as np
import pytest

import char_trainer as ct
import rnn_utils as ru

TINY = "the cat sat on the mat. the rat sat on the hat.\n" * 20
GATED = ["gru", "lstm"]


def _random_params(cell, V, n_a, rng, scale=0.6):
    """Teaching-code parameters with nonzero biases everywhere."""
    init = ru.init_gru_params if cell == "gru" else ru.init_lstm_params
    params = init(V, n_a, V, rng, scale=scale)
    for k in params:
        if k.startswith("b"):
            params[k] = rng.standard_normal(params[k].shape)
    return params


def _teaching_loss_and_grads(cell, x_ids, y_ids, state, params):
    """The course's loss, gradients and last state(s) for ids ``(m, T_x)``."""
    V = params["Wy"].shape[0]
    x, y = ru.one_hot(x_ids, V), ru.one_hot(y_ids, V)
    if cell == "gru":
        J, grads, c_last = ru.gru_loss_and_grads(x, y, state[0], params)
        return J, grads, (c_last,)
    J, grads, a_last, c_last = ru.lstm_loss_and_grads(x, y, state[0], params, c0=state[1])
    return J, grads, (a_last, c_last)


def _fast(cell, params, x_ids, y_ids, state):
    if cell == "gru":
        J, grads, c_last = ct.fast_loss_and_grads(params, x_ids, y_ids, state[0], cell="gru")
        return J, grads, (c_last,)
    J, grads, a_last, c_last = ct.fast_loss_and_grads(
        params, x_ids, y_ids, state[0], cell="lstm", c0=state[1]
    )
    return J, grads, (a_last, c_last)


def _rel_err(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


# ---------------------------------------------------------------------------
# The fused steps compute what the teaching functions compute
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("cell", GATED)
@pytest.mark.parametrize("m, T_x", [(3, 5), (1, 1), (4, 1), (2, 9)])
def test_fused_step_matches_the_teaching_loss_and_grads_over_chunks_in_float64(cell, m, T_x):
    """Three chunks in a row, the state carried from one to the next (for the
    LSTM both a and c): loss, every gradient and the carried state agree."""
    rng = np.random.default_rng(7 * m + T_x + (cell == "lstm"))
    V, n_a = 6, 5
    params = _random_params(cell, V, n_a, rng)
    ids = rng.integers(0, V, (m, 3 * T_x + 1))
    state0 = tuple(rng.standard_normal((n_a, m)) for _ in range(1 if cell == "gru" else 2))
    fast_state, ref_state = state0, state0
    n = m * T_x
    for k in range(3):
        cols = slice(k * T_x, (k + 1) * T_x)
        x_ids, y_ids = ids[:, cols], ids[:, k * T_x + 1 : (k + 1) * T_x + 1]
        J, grads, fast_state = _fast(cell, params, x_ids, y_ids, fast_state)
        J_ref, grads_ref, ref_state = _teaching_loss_and_grads(cell, x_ids, y_ids, ref_state, params)
        assert J == pytest.approx(J_ref / n, rel=1e-12)
        for name in params:
            assert _rel_err(grads["d" + name], grads_ref["d" + name] / n) < 1e-10, (k, name)
        for s, s_ref in zip(fast_state, ref_state):
            assert _rel_err(s, s_ref) < 1e-12
        assert not any("0" in key for key in grads)  # no gradient for the carried-in state


@pytest.mark.parametrize("cell", GATED)
@pytest.mark.parametrize("threads", [1, 2])
def test_the_trainers_second_update_uses_the_reference_gradient_with_the_carried_state(cell, threads):
    """Two plain SGD steps in float64. The first recovers the initial weights;
    the second chunk starts from the state the first one left (a and c for the
    LSTM): the trainer's second gradient equals the teaching gradient on that
    chunk from that state, with the batch split between threads or not."""
    kw = dict(cell=cell, n_a=5, seq_len=4, batch_size=3, optimizer="sgd", clip_norm=None, dtype=np.float64)
    kw.update(seed=3, threads=threads)
    one = {lr: ct.train_char_model(TINY, lr=lr, steps=1, **kw)[0] for lr in (1.0, 2.0)}
    two, history = ct.train_char_model(TINY, lr=1.0, steps=2, **kw)
    g1 = {k: one[1.0].params[k] - one[2.0].params[k] for k in two.params}
    init = {k: one[1.0].params[k] + g1[k] for k in two.params}
    after_one = one[1.0].params
    g2 = {k: after_one[k] - two.params[k] for k in two.params}
    vocab, T, m = two.vocab, kw["seq_len"], kw["batch_size"]
    ids = vocab.encode(TINY)
    zero = tuple(np.zeros((5, m)) for _ in range(1 if cell == "gru" else 2))
    matches = []
    for offset in range(T):
        inputs, targets = ct.cut_streams(ids, m, T, offset)
        _, grads, state = _teaching_loss_and_grads(cell, inputs[:, :T], targets[:, :T], zero, init)
        if not all(np.allclose(grads["d" + k] / (m * T), g1[k], rtol=1e-9, atol=1e-13) for k in g1):
            continue
        J2, grads2, _ = _teaching_loss_and_grads(
            cell, inputs[:, T : 2 * T], targets[:, T : 2 * T], state, after_one
        )
        for k in g2:
            assert _rel_err(g2[k], grads2["d" + k] / (m * T)) < 1e-9, k
        matches.append(J2 / (m * T))
    assert len(matches) == 1, "the trainer's first gradient matches no batch of the text"
    assert history["train_loss"][1] == pytest.approx(matches[0], rel=1e-12)
    assert float(np.max(np.abs(init["Wy"]))) > 0  # a real initialisation, not zeros


# ---------------------------------------------------------------------------
# The model: loss, hidden states and sampling use the teaching forward passes
# ---------------------------------------------------------------------------


def _model(cell, text, n_a=8, seed=5):
    """Random float64 weights large enough that greedy decoding does not settle at once."""
    vocab = ru.CharVocab(text)
    params = _random_params(cell, vocab.size, n_a, np.random.default_rng(seed), scale=2.5)
    return ct.CharModel(vocab, params, cell)


def _teaching_forward(model, ids):
    """(hidden states the output layer reads (n_a, T), y_hat (V, T)) from the zero state."""
    x = ru.one_hot(np.asarray(ids)[np.newaxis, :], model.vocab.size)
    zero = np.zeros((model.n_a, 1))
    if model.cell == "gru":
        c, y_hat, _ = ru.gru_forward(x, zero, model.params)
        return c[:, 0], y_hat[:, 0]
    a, y_hat, _, _ = ru.lstm_forward(x, zero, model.params)
    return a[:, 0], y_hat[:, 0]


@pytest.mark.parametrize("cell", GATED)
def test_loss_and_hidden_states_are_the_teaching_forwards(cell):
    model = _model(cell, TINY)
    text = "the mat sat on the rat.\n"
    ids = model.vocab.encode(text)
    h, y_hat = _teaching_forward(model, ids)
    np.testing.assert_allclose(model.hidden_states(text), h, rtol=1e-12, atol=1e-14)
    expected = -np.mean(np.log(y_hat[ids[1:], np.arange(len(ids) - 1)]))
    assert model.loss(text) == pytest.approx(expected, rel=1e-12)
    # a text longer than one scoring chunk carries the state across chunks
    long_ids = model.vocab.encode(TINY[:300])
    h_all, _ = _teaching_forward(model, long_ids)
    pieces = [a for a, _, _ in model._forward(long_ids, chunk=70)]
    np.testing.assert_allclose(np.concatenate(pieces, axis=1), h_all, rtol=1e-12, atol=1e-14)
    assert repr(model).startswith(f"CharModel(cell='{cell}', n_a=8")


def _teaching_step(model, x, state):
    """One step of the course's cell forward: (new state, y_hat (V,))."""
    if model.cell == "gru":
        c, y_hat, _ = ru.gru_cell_forward(x, state[0], model.params)
        return (c,), y_hat[:, 0]
    a, c, y_hat, _ = ru.lstm_cell_forward(x, state[0], state[1], model.params)
    return (a, c), y_hat[:, 0]


@pytest.mark.parametrize("cell", GATED)
@pytest.mark.parametrize(
    "text, prefix", [("hello world\nhi there\n", ""), ("hello world\nhi there\n", "he"), ("abcabd ecb", "")]
)
def test_greedy_sampling_is_the_step_by_step_argmax_of_the_teaching_cell(cell, text, prefix):
    """temperature=0: read the warm-up (the prefix, else "\\n" if the
    vocabulary has one, else an all-zero input) with the course's cell
    forward, then feed each argmax back in as the next one-hot input."""
    model = _model(cell, text)
    V = model.vocab.size
    warm = prefix or ("\n" if "\n" in text else "")
    inputs = [ru.one_hot(np.array([i]), V) for i in model.vocab.encode(warm)] or [np.zeros((V, 1))]
    state = tuple(np.zeros((model.n_a, 1)) for _ in range(1 if cell == "gru" else 2))
    for x in inputs:
        state, y_hat = _teaching_step(model, x, state)
    expected = ""
    for _ in range(25):
        i = int(np.argmax(y_hat))
        expected += model.vocab.chars[i]
        state, y_hat = _teaching_step(model, ru.one_hot(np.array([i]), V), state)
    assert model.sample(25, temperature=0, prefix=prefix) == prefix + expected
    assert len(set(expected)) > 2  # not trivially passed by a constant output


@pytest.mark.parametrize("cell", GATED)
def test_sampling_is_reproducible_and_checks_its_arguments(cell):
    model = _model(cell, TINY)
    a = model.sample(60, temperature=1.0, seed=5)
    assert a == model.sample(60, temperature=1.0, seed=5) and a != model.sample(60, temperature=1.0, seed=6)
    assert len(a) == 60 and set(a) <= set(model.vocab.chars)
    assert model.sample(10, seed=0, prefix="the ").startswith("the ")
    assert model.sample(0) == ""
    with pytest.raises(ValueError, match="temperature must be a finite number >= 0; got -1"):
        model.sample(5, temperature=-1)
    with pytest.raises(ValueError, match="n_chars must be a non-negative integer; got -2"):
        model.sample(-2)


# ---------------------------------------------------------------------------
# Training, files, resuming, command line
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("cell", GATED)
def test_fresh_gated_weights_are_drawn_as_pytorch_draws_them(cell):
    n_a, n_x = 64, 30
    params = ct._init_gated_params(cell, n_x, n_a, np.random.default_rng(0), np.float64)
    bound = 1 / math.sqrt(n_a)
    gate_biases = [k for k in params if k.startswith("b") and k != "by"]
    assert len(gate_biases) == (3 if cell == "gru" else 4)
    for k, value in params.items():
        if k.startswith("W"):
            assert np.abs(value).max() < bound and value.std() > 0.5 * bound / math.sqrt(3)
        elif k == "by":
            assert not value.any()
        else:  # the sum of two uniform draws (b_ih + b_hh): triangular on (-2 bound, 2 bound)
            assert np.abs(value).max() < 2 * bound and value.std() > 0.5 * bound * math.sqrt(2 / 3)


@pytest.mark.parametrize("cell", GATED)
def test_every_cell_learns_a_tiny_corpus(cell):
    model, history = ct.train_char_model(TINY, cell=cell, n_a=32, seq_len=16, batch_size=8, lr=1e-2, steps=60)
    losses = history["train_loss"]
    assert model.cell == history["cell"] == cell and losses[0] == pytest.approx(
        math.log(model.vocab.size), abs=0.1
    )
    assert np.mean(losses[-10:]) < 0.6 * losses[0]
    assert model.loss(TINY[:200]) < 0.6 * math.log(model.vocab.size)


@pytest.mark.parametrize("cell", GATED)
def test_save_and_load_round_trip_with_the_cell_name(cell, tmp_path):
    model, _ = ct.train_char_model(TINY, cell=cell, n_a=8, seq_len=10, batch_size=4, steps=3)
    for with_state in (True, False):
        path = tmp_path / f"{with_state}.npz"
        model.save(path, with_train_state=with_state)
        with np.load(path) as f:
            assert int(f["format"][0]) == 3 and str(f["cell"]) == cell
            assert ("state_meta" in f.files) == with_state
        loaded = ct.load_char_model(path)
        assert loaded.cell == cell and (loaded.train_state is not None) == with_state
        for k in model.params:
            assert np.array_equal(loaded.params[k], model.params[k]), k
        assert loaded.sample(30, seed=3) == model.sample(30, seed=3)
        assert loaded.loss(TINY[:80]) == model.loss(TINY[:80])


def test_rnn_files_keep_formats_1_and_2_and_load_as_rnn(tmp_path):
    model, _ = ct.train_char_model(TINY, n_a=8, seq_len=10, batch_size=4, steps=3)
    for with_state, fmt in ((False, 1), (True, 2)):
        path = tmp_path / f"{fmt}.npz"
        model.save(path, with_train_state=with_state)
        with np.load(path) as f:
            assert int(f["format"][0]) == fmt and "cell" not in f.files
        assert ct.load_char_model(path).cell == "rnn"


@pytest.mark.parametrize("cell", GATED)
def test_a_damaged_gated_file_is_refused_plainly(cell, tmp_path):
    model, _ = ct.train_char_model(TINY, cell=cell, n_a=8, seq_len=10, batch_size=4, steps=2)
    path = tmp_path / "m.npz"
    model.save(path)
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["Wc"] = arrays["Wc"][:, :-1]
    np.savez(path, **arrays)
    with pytest.raises(ct.ModelFileError, match=r"Wc has shape \(8, \d+\); expected \(n_a, n_a \+ n_x\)"):
        ct.load_char_model(path)


@pytest.mark.parametrize("cell", GATED)
def test_training_2n_steps_equals_n_then_resume_n_from_the_saved_file(cell, tmp_path):
    """Bit for bit, as for the RNN: weights, moments, offsets, place in the
    pass and the carried state (a and c for the LSTM) are saved and restored."""
    kw = dict(seq_len=10, batch_size=4, dtype=np.float64, threads=1, lr=2e-2)
    whole, h_whole = ct.train_char_model(TINY, cell=cell, n_a=6, steps=24, seed=7, **kw)
    half, _ = ct.train_char_model(TINY, cell=cell, n_a=6, steps=12, seed=7, **kw)
    half.save(tmp_path / "half.npz")
    state = ct.load_char_model(tmp_path / "half.npz").train_state
    assert state["a"].shape == ((12 if cell == "lstm" else 6), 4)
    resumed, h_resumed = ct.train_char_model(TINY, steps=12, seed=99, resume=tmp_path / "half.npz", **kw)
    assert resumed.cell == cell and h_resumed["resumed_from_step"] == 12
    assert h_resumed["train_loss"] == h_whole["train_loss"][12:]
    for k in whole.params:
        assert np.array_equal(resumed.params[k], whole.params[k]), k


def test_a_bad_cell_is_refused_by_name(tmp_path):
    with pytest.raises(ValueError, match=r"cell must be one of 'rnn', 'gru', 'lstm'; got 'transformer'"):
        ct.train_char_model(TINY, cell="transformer", steps=1)
    with pytest.raises(ValueError, match=r"cell must be one of 'rnn', 'gru', 'lstm'; got 'GRU'"):
        ct.train_char_model(TINY, cell="GRU", steps=1)
    vocab = ru.CharVocab(TINY)
    params = ru.init_gru_params(vocab.size, 4, vocab.size, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"cell must be one of .*; got 'rnm'"):
        ct.CharModel(vocab, params, "rnm")
    with pytest.raises(ValueError, match=r"params of an LSTM must have keys .*missing \['Wf'"):
        ct.CharModel(vocab, params, "lstm")
    with pytest.raises(ValueError, match=r"cell must be one of .*; got 'gru2'"):
        ct.fast_loss_and_grads(
            params, np.zeros((1, 2), int), np.zeros((1, 2), int), np.zeros((4, 1)), cell="gru2"
        )
    model, _ = ct.train_char_model(TINY, cell="gru", n_a=4, seq_len=10, batch_size=4, steps=1)
    with pytest.raises(ValueError, match=r"cell must be the resumed model's 'gru' \(or None\); got 'lstm'"):
        ct.train_char_model(TINY, cell="lstm", steps=1, resume=model)


@pytest.mark.parametrize("cell", GATED)
def test_command_line_trains_saves_resumes_and_samples_with_cell(cell, tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TINY, encoding="utf-8")
    saved = tmp_path / "m.npz"
    common = ["--n-a", "16", "--seq-len", "10", "--batch-size", "4", "--save", str(saved)]
    assert ct.main(["train", str(corpus), "--steps", "5", "--cell", cell, *common]) == 0
    assert "5 steps" in capsys.readouterr().out
    assert ct.load_char_model(saved).cell == cell
    assert ct.main(["sample", str(saved), "--n", "40", "--seed", "1"]) == 0
    first = capsys.readouterr().out
    assert len(first) == 41 and set(first[:-1]) <= set(TINY)
    # resuming keeps the cell; asking for another is refused before training
    assert ct.main(["train", str(corpus), "--steps", "2", "--resume", str(saved), *common]) == 0
    assert f"({cell}, 16 hidden units)" in capsys.readouterr().err
    other = "lstm" if cell == "gru" else "gru"
    assert (
        ct.main(["train", str(corpus), "--steps", "2", "--cell", other, "--resume", str(saved), *common]) == 2
    )
    assert f"cell must be the resumed model's '{cell}'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        ct.main(["train", str(corpus), "--cell", "transformer"])
    assert "invalid choice: 'transformer'" in capsys.readouterr().err
