"""Tests of the character-level model: the fast trainer against the reference
implementation, learning, sampling, saving, interruption and bad input."""

import math
import re
import warnings

import numpy as np
import pytest

import char_trainer as ct
import rnn_utils as ru

TINY = "the cat sat on the mat. the rat sat on the hat.\n" * 20


# ---------------------------------------------------------------------------
# The fast kernel computes what the course's reference computes
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("m, T_x", [(3, 5), (1, 1), (1, 7), (4, 1)])
def test_fast_kernel_matches_rnn_loss_and_grads_in_float64(m, T_x):
    rng = np.random.default_rng(m * 10 + T_x)
    V, n_a = 6, 5
    params = ru.init_params(V, n_a, V, rng, scale=0.6)
    params["ba"] = rng.standard_normal((n_a, 1))
    params["by"] = rng.standard_normal((V, 1))
    x_ids = rng.integers(0, V, (m, T_x))
    y_ids = rng.integers(0, V, (m, T_x))
    a0 = rng.standard_normal((n_a, m))
    J, grads, a_last = ct.fast_loss_and_grads(params, x_ids, y_ids, a0)
    J_ref, grads_ref, a_last_ref = ru.rnn_loss_and_grads(
        ru.one_hot(x_ids, V), ru.one_hot(y_ids, V), a0, params
    )
    n = m * T_x
    assert J == pytest.approx(J_ref / n, rel=1e-13)
    for k in ("dWaa", "dWax", "dWya", "dba", "dby"):
        np.testing.assert_allclose(grads[k], grads_ref[k] / n, rtol=1e-11, atol=1e-15, err_msg=k)
    np.testing.assert_allclose(a_last, a_last_ref, rtol=1e-13)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_trainer_first_update_uses_the_reference_gradient(threads):
    """One plain SGD step in float64: recover the trainer's initial weights and
    gradient from two learning rates, then find its first batch and check the
    gradient against rnn_loss_and_grads on it. With 2 or 3 threads the batch of
    3 streams is split into parts of unequal or equal sizes: the combined
    gradient must still be the whole batch's."""
    kw = dict(
        n_a=6,
        seq_len=5,
        batch_size=3,
        steps=1,
        optimizer="sgd",
        clip_norm=None,
        dtype=np.float64,
        seed=4,
        threads=threads,
    )
    m1, h1 = ct.train_char_model(TINY, lr=1.0, **kw)
    m2, _ = ct.train_char_model(TINY, lr=2.0, **kw)
    grad = {k: m1.params[k] - m2.params[k] for k in m1.params}  # (p - 1 g) - (p - 2 g)
    init = {k: m1.params[k] + grad[k] for k in m1.params}
    vocab = m1.vocab
    ids = vocab.encode(TINY)
    matches = []
    for offset in range(kw["seq_len"]):
        inputs, targets = ct.cut_streams(ids, kw["batch_size"], kw["seq_len"], offset)
        x_ids, y_ids = inputs[:, : kw["seq_len"]], targets[:, : kw["seq_len"]]
        J, g, _ = ru.rnn_loss_and_grads(
            ru.one_hot(x_ids, vocab.size), ru.one_hot(y_ids, vocab.size), np.zeros((6, 3)), init
        )
        n = x_ids.size
        if all(np.allclose(g["d" + k] / n, grad[k], rtol=1e-9, atol=1e-13) for k in grad):
            matches.append((offset, J / n))
    assert len(matches) == 1, "the trainer's gradient matches no batch of the text"
    assert h1["train_loss"][0] == pytest.approx(matches[0][1], rel=1e-12)


# ---------------------------------------------------------------------------
# Learning
# ---------------------------------------------------------------------------


def test_loss_goes_down_on_a_tiny_corpus_in_a_few_steps():
    model, history = ct.train_char_model(TINY, n_a=32, seq_len=16, batch_size=8, lr=1e-2, steps=60, seed=0)
    losses = history["train_loss"]
    assert len(losses) == 60 and history["steps"] == 60
    assert losses[0] == pytest.approx(math.log(model.vocab.size), abs=0.1)  # a fresh model is near uniform
    assert np.mean(losses[-10:]) < 0.6 * losses[0]
    assert model.loss(TINY[:200]) < 0.6 * math.log(model.vocab.size)


def test_history_records_validation_and_throughput():
    model, history = ct.train_char_model(
        TINY[:600], val_text=TINY[600:800], n_a=16, seq_len=10, batch_size=4, steps=25, eval_every=10, seed=1
    )
    assert history["val_step"] == [10, 20, 25]
    assert len(history["val_loss"]) == 3 and history["val_loss"][-1] == pytest.approx(
        model.loss(TINY[600:800])
    )
    assert history["chars"] == 25 * 10 * 4 and history["chars_per_second"] > 0
    assert history["interrupted"] is False


@pytest.mark.parametrize("optimizer", ["adam", "adagrad", "sgd"])
def test_every_optimizer_learns(optimizer):
    lr = {"adam": 1e-2, "adagrad": 5e-2, "sgd": 1.0}[optimizer]
    _, history = ct.train_char_model(
        TINY, n_a=24, seq_len=16, batch_size=8, lr=lr, steps=80, optimizer=optimizer
    )
    assert np.mean(history["train_loss"][-10:]) < np.mean(history["train_loss"][:5]) - 0.4


def test_training_is_reproducible_with_a_seed():
    kw = dict(n_a=16, seq_len=10, batch_size=4, steps=15)
    a, ha = ct.train_char_model(TINY, seed=3, **kw)
    b, hb = ct.train_char_model(TINY, seed=3, **kw)
    c, _ = ct.train_char_model(TINY, seed=4, **kw)
    assert ha["train_loss"] == hb["train_loss"]
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    assert not np.array_equal(a.params["Waa"], c.params["Waa"])


def test_splitting_the_batch_between_threads_changes_only_rounding():
    """Many Adam steps in float64 with 1, 2 and 4 threads: the same model up to
    rounding, and the carried hidden state is stitched back in the right order."""
    kw = dict(n_a=12, seq_len=8, batch_size=5, steps=30, dtype=np.float64, seed=5)
    models = [ct.train_char_model(TINY, threads=t, **kw) for t in (1, 2, 4)]
    (one, h_one), others = models[0], models[1:]
    for model, history in others:
        np.testing.assert_allclose(history["train_loss"], h_one["train_loss"], rtol=1e-10)
        for k in one.params:
            np.testing.assert_allclose(model.params[k], one.params[k], rtol=1e-8, atol=1e-10, err_msg=k)


def test_training_stops_after_seconds():
    _, history = ct.train_char_model(TINY, n_a=8, seq_len=5, batch_size=2, seconds=0.3)
    assert 0.3 <= history["seconds"] < 5 and history["steps"] > 0


def test_interrupting_keeps_the_model_trained_so_far(capsys):
    def stop_at_three(step, loss):
        if step == 3:
            raise KeyboardInterrupt

    model, history = ct.train_char_model(
        TINY, n_a=8, seq_len=5, batch_size=2, steps=100, callback=stop_at_three
    )
    assert history["interrupted"] is True and history["steps"] == 3 and len(history["train_loss"]) == 3
    assert "interrupted at step 3" in capsys.readouterr().out
    assert np.isfinite(model.loss(TINY[:50]))


def test_divergence_raises_and_keeps_the_last_good_model():
    with pytest.raises(
        ct.TrainingDiverged, match=r"training diverged at step (\d+): the training loss became non-finite"
    ) as info:
        ct.train_char_model(
            TINY,
            n_a=8,
            seq_len=5,
            batch_size=2,
            steps=50,
            optimizer="sgd",
            lr=1e38,
            clip_norm=None,
            explode_factor=None,  # only the non-finite check
        )
    assert isinstance(info.value, ValueError)
    model, history = info.value.model, info.value.history
    assert all(np.all(np.isfinite(v)) for v in model.params.values())
    assert all(np.isfinite(history["train_loss"]))
    # the kept model is the one whose loss was the last finite one recorded
    assert history["model_step"] == len(history["train_loss"]) - 1
    assert f"from step {history['model_step']}, is kept" in str(info.value)


def test_an_exploding_loss_stops_training_without_numpy_warnings():
    """lr = 1e9 keeps the loss finite (about 1e10 nats) but absurd: by default
    the trainer stops at once, and no overflow warning leaks out."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any RuntimeWarning fails the test
        with pytest.raises(ct.TrainingDiverged, match=r"exploded to .* above .* = 3 ln V") as info:
            ct.train_char_model(
                TINY,
                n_a=16,
                seq_len=10,
                batch_size=4,
                steps=50,
                lr=1e9,
            )
    history = info.value.history
    assert len(history["train_loss"]) <= 2 and history["model_step"] <= 1
    limit = ct.EXPLODING_LOSS_FACTOR * math.log(info.value.model.vocab.size)
    assert all(loss < limit for loss in history["train_loss"])
    assert info.value.model.loss(TINY[:200]) < limit


def test_healthy_runs_stay_far_below_the_divergence_limit():
    for optimizer, lr in (("adam", 3e-2), ("adagrad", 5e-2), ("sgd", 1.0)):
        model, history = ct.train_char_model(
            TINY, n_a=24, seq_len=16, batch_size=8, lr=lr, steps=80, optimizer=optimizer, explode_factor=3.0
        )
        assert max(history["train_loss"]) < 1.5 * math.log(model.vocab.size)


# ---------------------------------------------------------------------------
# Scoring, sampling, saving
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model():
    return ct.train_char_model(TINY, n_a=24, seq_len=16, batch_size=8, lr=1e-2, steps=40, seed=2)[0]


def test_loss_matches_the_reference_over_one_continuous_stream(model):
    text = "the cat sat."
    ids = model.vocab.encode(text)
    x = ru.one_hot(ids[:-1][np.newaxis, :], model.vocab.size)
    y = ru.one_hot(ids[1:][np.newaxis, :], model.vocab.size)
    params64 = {k: v.astype(np.float64) for k, v in model.params.items()}
    J, _, _ = ru.rnn_loss_and_grads(x, y, np.zeros((model.n_a, 1)), params64)
    assert model.loss(text) == pytest.approx(J / (len(text) - 1), rel=1e-5)
    assert model.hidden_states(text).shape == (model.n_a, len(text))


def test_loss_names_unknown_characters(model):
    with pytest.raises(ValueError, match=r"not in the vocabulary: \['Q', 'Z'\]"):
        model.loss("the QZ cat")
    with pytest.raises(ValueError, match="at least 2 characters"):
        model.loss("t")


def test_sampling_is_reproducible_and_respects_temperature_and_prefix(model):
    a = model.sample(80, temperature=1.0, seed=5)
    assert a == model.sample(80, temperature=1.0, seed=5)
    assert a != model.sample(80, temperature=1.0, seed=6)
    assert len(a) == 80 and set(a) <= set(model.vocab.chars)
    greedy = model.sample(30, temperature=0, seed=1)
    assert greedy == model.sample(30, temperature=0, seed=2)
    with_prefix = model.sample(10, seed=0, prefix="the ")
    assert with_prefix.startswith("the ") and len(with_prefix) == 14
    assert model.sample(0) == ""
    with pytest.raises(ValueError, match="temperature must be a finite number >= 0; got -1"):
        model.sample(5, temperature=-1)
    with pytest.raises(ValueError, match=r"not in the vocabulary: \['Q'\]"):
        model.sample(5, prefix="Q")


def test_save_and_load_round_trip_exactly(model, tmp_path):
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = ct.load_char_model(path)
    assert loaded.vocab.chars == model.vocab.chars
    for k in model.params:
        assert loaded.params[k].dtype == model.params[k].dtype
        assert np.array_equal(loaded.params[k], model.params[k])
    assert loaded.sample(50, seed=3) == model.sample(50, seed=3)
    assert loaded.loss(TINY[:100]) == model.loss(TINY[:100])
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]


def test_an_interrupted_save_leaves_the_old_file_whole(model, tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    model.save(path)
    before = path.read_bytes()

    def broken_savez(f, **arrays):
        f.write(b"half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(KeyboardInterrupt):
        model.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]


def test_load_refuses_files_that_are_not_models(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, Waa=np.zeros((2, 2)), format=np.array([1]))
    with pytest.raises(ct.ModelFileError, match=r"other.npz is not a model .* lacks the arrays \['Wax'"):
        ct.load_char_model(path)


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, kwargs, message",
    [
        ("", {}, "text must be a non-empty str"),
        ("abc", {}, r"text must be longer than one sequence \(seq_len \+ 1 = 51 characters\); got 3"),
        (TINY, {"n_a": 0}, "n_a must be a positive integer; got 0"),
        (TINY, {"seq_len": -5}, "seq_len must be a positive integer; got -5"),
        (TINY, {"batch_size": 0}, "batch_size must be a positive integer; got 0"),
        (TINY, {"steps": None}, "give steps or seconds"),
        (TINY, {"steps": 0}, "steps must be a positive integer; got 0"),
        (TINY, {"lr": 0.0}, "lr must be a positive number; got 0.0"),
        (TINY, {"lr": None}, "lr must be a positive number; got None"),
        (TINY, {"seconds": "10"}, "seconds must be a positive number; got '10'"),
        (TINY, {"optimizer": "rmsprop"}, r"optimizer must be one of \['adagrad', 'adam', 'sgd'\]"),
        (TINY, {"batch_size": 500}, "fewer than seq_len = 50; use a smaller batch_size or seq_len"),
        (TINY, {"val_text": "the DOG"}, r"val_text has characters that text does not: \['D', 'G', 'O'\]"),
        (TINY, {"dtype": np.int32}, "dtype must be np.float32 or np.float64"),
        (TINY, {"threads": 0}, "threads must be a positive integer; got 0"),
    ],
)
def test_train_char_model_rejects_bad_input(text, kwargs, message):
    args = {"steps": 1} | kwargs
    with pytest.raises(ValueError, match=message):
        ct.train_char_model(text, **args)


def test_fast_loss_and_grads_rejects_bad_ids():
    params = ru.init_params(4, 3, 4, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"x_ids must hold ids in \[0, 4\); got \[4\]"):
        ct.fast_loss_and_grads(params, np.array([[0, 4]]), np.array([[0, 1]]), np.zeros((3, 1)))
    with pytest.raises(ValueError, match=r"y_ids must have shape \(m, T_x\) = \(1, 2\); got \(1, 3\)"):
        ct.fast_loss_and_grads(params, np.array([[0, 1]]), np.array([[0, 1, 2]]), np.zeros((3, 1)))


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def test_command_line_trains_saves_and_samples(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TINY, encoding="utf-8")
    saved = tmp_path / "m.npz"
    args = [
        "train",
        str(corpus),
        "--steps",
        "5",
        "--n-a",
        "16",
        "--seq-len",
        "10",
        "--batch-size",
        "4",
        "--save",
        str(saved),
    ]
    assert ct.main(args) == 0
    out = capsys.readouterr().out
    assert "5 steps" in out and "held-out loss" in out and saved.exists()
    assert ct.main(["sample", str(saved), "--n", "40", "--seed", "1"]) == 0
    first = capsys.readouterr().out
    assert ct.main(["sample", str(saved), "--n", "40", "--seed", "1"]) == 0
    assert capsys.readouterr().out == first and len(first) == 41
    names = tmp_path / "names.txt"
    names.write_text(
        "".join(f"{a}{b}{c}\n" for a in "abcdefgh" for b in "aeiou" for c in "xyz"), encoding="utf-8"
    )
    assert (
        ct.main(
            [
                "train",
                str(names),
                "--steps",
                "3",
                "--n-a",
                "8",
                "--seq-len",
                "5",
                "--batch-size",
                "2",
                "--shuffle-lines",
                "--save",
                str(saved),
            ]
        )
        == 0
    )
    assert "held-out loss" in capsys.readouterr().out
    assert ct.main(["sample", str(tmp_path / "missing.npz")]) == 2
    assert "error:" in capsys.readouterr().err


# ---------------------------------------------------------------------------
# Streams, sampling and hidden states against the course's reference
# ---------------------------------------------------------------------------


def test_cut_streams_cuts_contiguous_streams_of_whole_chunks():
    ids = np.arange(40)
    inputs, targets = ct.cut_streams(ids, 3, 4, 2)
    # (40 - 1 - 2) // 3 // 4 = 3 chunks of 4: streams of 12, starting at 2, 14, 26
    assert inputs.shape == targets.shape == (3, 12)
    assert inputs[:, 0].tolist() == [2, 14, 26] and inputs[2, -1] == 37
    np.testing.assert_array_equal(targets, inputs + 1)
    with pytest.raises(ValueError, match="at least seq_len = 4 characters"):
        ct.cut_streams(np.arange(12), 3, 4, 1)
    with pytest.raises(ValueError, match="offset must be a non-negative integer; got -1"):
        ct.cut_streams(ids, 3, 4, -1)


def _model_with_biases(text, n_a=7, seed=2):
    """Random float64 weights large enough that greedy decoding does not
    settle at once, and nonzero biases ba and by."""
    vocab = ru.CharVocab(text)
    rng = np.random.default_rng(seed)
    params = ru.init_params(vocab.size, n_a, vocab.size, rng, scale=2.5)
    params["ba"] = rng.standard_normal((n_a, 1))
    params["by"] = 0.3 * rng.standard_normal((vocab.size, 1))
    return ct.CharModel(vocab, params)


@pytest.mark.parametrize(
    "text, prefix",
    [("hello world\nhi there\n", ""), ("hello world\nhi there\n", "he"), ("abcabd ecb", "")],
)
def test_greedy_sampling_is_the_step_by_step_argmax_of_rnn_forward(text, prefix):
    """temperature=0: feed each argmax of rnn_forward's output back in as the
    next one-hot input. The warm-up is the prefix, else "\\n" if the vocabulary
    has one, else an all-zero first input."""
    model = _model_with_biases(text)
    V = model.vocab.size
    warm = prefix or ("\n" if "\n" in text else "")
    x = [ru.one_hot(model.vocab.encode(c), V)[:, 0] for c in warm] or [np.zeros(V)]
    expected = ""
    for _ in range(25):
        inputs = np.stack(x, axis=1)[:, np.newaxis, :]  # (n_x, 1, T_x)
        _, y_hat, _ = ru.rnn_forward(inputs, np.zeros((model.n_a, 1)), model.params)
        i = int(np.argmax(y_hat[:, 0, -1]))
        expected += model.vocab.chars[i]
        x.append(ru.one_hot(np.array([i]), V)[:, 0])
    assert model.sample(25, temperature=0, prefix=prefix) == prefix + expected
    assert len(set(expected)) > 2  # the test is not trivially passed by a constant output


def test_hidden_states_are_rnn_forwards_activations():
    model = _model_with_biases("the cat sat on the mat.\n")
    text = "the mat sat on the cat.\n"
    x = ru.one_hot(model.vocab.encode(text)[np.newaxis, :], model.vocab.size)
    a, _, _ = ru.rnn_forward(x, np.zeros((model.n_a, 1)), model.params)
    np.testing.assert_allclose(model.hidden_states(text), a[:, 0, :], rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------------------
# Keeping the best model, stopping early
# ---------------------------------------------------------------------------

_NAME_LIST = [f"{a}{b}{c}{d}\n" for a in "bdkmt" for b in "aeiou" for c in "lnrs" for d in "aeo"]
NAMES = "".join(_NAME_LIST[i] for i in np.random.default_rng(0).permutation(len(_NAME_LIST)))


def test_keep_best_returns_the_model_with_the_best_held_out_loss():
    train, held = NAMES[:1200], NAMES[1200:]
    model, history = ct.train_char_model(
        train,
        val_text=held,
        n_a=48,
        seq_len=10,
        batch_size=4,
        lr=3e-2,
        steps=300,
        eval_every=10,
        keep_best=True,
    )
    best = int(np.argmin(history["val_loss"]))
    assert history["val_step"][0] == 0  # the starting model is scored too
    assert history["model_step"] == history["best_step"] == history["val_step"][best]
    assert history["best_val_loss"] == min(history["val_loss"]) == pytest.approx(model.loss(held), rel=1e-6)
    assert history["model_step"] < history["steps"]  # this run overfits: the best is not the last
    assert model.loss(held) < history["val_loss"][-1]


def test_patience_stops_early_and_the_defaults_keep_the_last_model():
    train, held = NAMES[:1200], NAMES[1200:]
    kw = dict(val_text=held, n_a=48, seq_len=10, batch_size=4, lr=3e-2, steps=300, eval_every=10)
    _, history = ct.train_char_model(train, patience=3, **kw)
    assert history["stopped_early"] is True and history["steps"] < 300
    assert history["val_step"][-1] == history["steps"] == history["best_step"] + 30
    model, history = ct.train_char_model(train, **kw)
    assert history["stopped_early"] is False and history["steps"] == history["model_step"] == 300
    assert history["val_loss"][-1] == pytest.approx(model.loss(held))
    with pytest.raises(ValueError, match="keep_best and patience need val_text"):
        ct.train_char_model(train, steps=5, keep_best=True)


# ---------------------------------------------------------------------------
# Resuming
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("optimizer", ["adam", "adagrad"])
def test_training_2n_steps_equals_n_then_resume_n_from_the_saved_file(optimizer, tmp_path):
    """Same weights to the last bit: the optimizer's moments and step count,
    the random offsets, the place in the pass (17 steps end mid-pass) and the
    carried hidden state are all saved and restored."""
    kw = dict(seq_len=10, batch_size=4, dtype=np.float64, threads=1, optimizer=optimizer, lr=2e-2)
    whole, h_whole = ct.train_char_model(TINY, n_a=12, steps=34, seed=7, **kw)
    half, _ = ct.train_char_model(TINY, n_a=12, steps=17, seed=7, **kw)
    half.save(tmp_path / "half.npz")
    loaded = ct.load_char_model(tmp_path / "half.npz")
    state = loaded.train_state
    assert state["step"] == 17 and state["optimizer"] == optimizer
    for k in ("m1", "m2"):
        assert all(np.array_equal(state[k][p], half.train_state[k][p]) for p in half.params)
    assert np.any(state["m2"]["Waa"] != 0)
    resumed, h_resumed = ct.train_char_model(TINY, steps=17, seed=123, resume=tmp_path / "half.npz", **kw)
    assert h_resumed["resumed_from_step"] == 17
    assert h_resumed["train_loss"] == h_whole["train_loss"][17:]
    for k in whole.params:
        assert np.array_equal(resumed.params[k], whole.params[k]), k


def test_a_format_1_file_resumes_from_the_weights_alone(model, tmp_path):
    path = tmp_path / "weights.npz"
    model.save(path, with_train_state=False)
    with np.load(path) as f:
        assert int(f["format"][0]) == 1 and not any(k.startswith("state_") for k in f.files)
    loaded = ct.load_char_model(path)
    assert loaded.train_state is None
    resumed, history = ct.train_char_model(TINY, steps=30, lr=1e-2, seq_len=16, batch_size=8, resume=path)
    assert resumed.n_a == model.n_a and history["resumed_from_step"] == 0
    # it starts from the saved weights, not from scratch (a fresh model starts at ln V)
    assert history["train_loss"][0] < 0.8 * math.log(model.vocab.size)


def test_resuming_refuses_what_does_not_fit(model, tmp_path):
    path = tmp_path / "m.npz"
    model.save(path)
    with pytest.raises(
        ValueError, match=r"text has characters that the resumed model's vocabulary lacks: \['Q', 'Z'\]"
    ):
        ct.train_char_model(TINY + "QZ", steps=1, resume=path)
    with pytest.raises(ValueError, match=r"n_a must be the resumed model's n_a = 24 \(or None\); got 32"):
        ct.train_char_model(TINY, steps=1, n_a=32, resume=path)
    with pytest.raises(
        ValueError, match=r"optimizer must be the resumed run's 'adam' \(or None\).*got 'sgd'"
    ):
        ct.train_char_model(TINY, steps=1, optimizer="sgd", resume=path)
    with pytest.raises(
        ValueError, match="resume must be a CharModel, a path to a saved one, or None; got int"
    ):
        ct.train_char_model(TINY, steps=1, resume=3)


# ---------------------------------------------------------------------------
# Files that are not models
# ---------------------------------------------------------------------------


def _arrays_of(model):
    return {k: v for k, v in model.params.items()} | {
        "chars": np.array([ord(c) for c in model.vocab.chars], dtype=np.int32),
        "format": np.array([1], dtype=np.int32),
    }


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", r"cannot read a model from \S*bad.npz: no such file"),
        ("text", r"bad.npz is not a model written by `python -m char_trainer train`.*not a \.npz archive"),
        ("truncated", r"bad.npz is not a model written by .*damaged or truncated"),
        ("no Wya", r"bad.npz is not a model written by .*lacks the arrays \['Wya'\]"),
        (
            "Wya shape",
            r"bad.npz is not a model .*Wya has shape \(5, 24\); expected \(n_y, n_a\) = \(\d+, 24\)",
        ),
        ("by shape", r"bad.npz is not a model .*by has shape \(3, 1\); expected \(n_y, 1\)"),
        ("format 4", r"bad.npz has model format 4; this code reads formats 1 to 3"),
        ("format 3 without a cell", r"bad.npz is not a model .*format 3 but has no 'cell' array"),
        ("unknown cell", r"bad.npz holds a model of an unknown cell .*'transformer'.*'rnn', 'gru', 'lstm'"),
    ],
)
def test_load_says_plainly_what_is_wrong_with_a_file(model, tmp_path, capsys, case, message):
    path = tmp_path / "bad.npz"
    arrays = _arrays_of(model)
    if case == "text":
        path.write_text("the cat sat on the mat\n", encoding="utf-8")
    elif case == "truncated":
        model.save(path)
        path.write_bytes(path.read_bytes()[:300])
    elif case == "no Wya":
        del arrays["Wya"]
    elif case == "Wya shape":
        arrays["Wya"] = np.zeros((5, 24))
    elif case == "by shape":
        arrays["by"] = np.zeros((3, 1))
    elif case == "format 4":
        arrays["format"] = np.array([4], dtype=np.int32)
    elif case == "format 3 without a cell":
        arrays["format"] = np.array([3], dtype=np.int32)
    elif case == "unknown cell":
        arrays["format"], arrays["cell"] = np.array([3], dtype=np.int32), np.array("transformer")
    if case not in ("missing", "text", "truncated"):
        np.savez(path, **arrays)
    with pytest.raises(ct.ModelFileError, match=message):
        ct.load_char_model(path)
    assert ct.main(["sample", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(path) in err and "pickle" not in err
    # the same refusal when the file is given to --resume, before any training
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TINY, encoding="utf-8")
    assert (
        ct.main(
            ["train", str(corpus), "--steps", "1", "--resume", str(path), "--save", str(tmp_path / "o.npz")]
        )
        == 2
    )
    assert str(path) in capsys.readouterr().err and not (tmp_path / "o.npz").exists()


# ---------------------------------------------------------------------------
# Command line: nothing lost, nothing overwritten, plain errors
# ---------------------------------------------------------------------------


def _corpus(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TINY, encoding="utf-8")
    return corpus


SMALL = ["--n-a", "16", "--seq-len", "10", "--batch-size", "4"]


@pytest.mark.parametrize(
    "target, message",
    [
        (
            "missing/dir/m.npz",
            r"cannot write the model to \S*missing/dir/m.npz: the folder \S*missing/dir does not exist",
        ),
        ("a_file/m.npz", r"cannot write the model to \S*a_file/m.npz: \S*a_file is not a folder"),
        ("a_folder", r"cannot write the model to \S*a_folder: it is a folder; give a file name such as"),
    ],
)
def test_a_bad_save_path_is_refused_before_training(tmp_path, capsys, monkeypatch, target, message):
    (tmp_path / "a_file").write_text("keep me", encoding="utf-8")
    (tmp_path / "a_folder").mkdir()
    before = sorted(p.name for p in tmp_path.rglob("*"))

    def no_training(*args, **kwargs):
        raise AssertionError("training started before the save path was checked")

    monkeypatch.setattr(ct, "train_char_model", no_training)
    corpus = _corpus(tmp_path)
    assert ct.main(["train", str(corpus), "--steps", "5", *SMALL, "--save", str(tmp_path / target)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and re.search(message, err), err
    assert sorted(p.name for p in tmp_path.rglob("*")) == sorted([*before, "corpus.txt"])
    assert (tmp_path / "a_file").read_text(encoding="utf-8") == "keep me"
    with pytest.raises(ValueError, match=message):  # save() itself says the same
        ct.CharModel(ru.CharVocab("ab"), ru.init_params(2, 3, 2, np.random.default_rng(0))).save(
            tmp_path / target
        )


def test_a_diverging_run_leaves_the_saved_file_untouched(tmp_path, capsys):
    corpus, saved = _corpus(tmp_path), tmp_path / "m.npz"
    assert ct.main(["train", str(corpus), "--steps", "5", *SMALL, "--save", str(saved)]) == 0
    before = saved.read_bytes()
    capsys.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy overflow warning may leak out
        code = ct.main(
            [
                "train",
                str(corpus),
                "--steps",
                "50",
                *SMALL,
                "--lr",
                "1e9",
                "--eval-every",
                "1000",
                "--save",
                str(saved),
            ]
        )
    assert code == 2
    err = capsys.readouterr().err
    assert re.search(r"error: training diverged at step \d: the training loss exploded to \S+ nats/char", err)
    assert f"nothing was saved ({saved} is as it was)" in err and "try a lower --lr" in err
    assert saved.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus.txt", "m.npz"]


def test_a_run_that_diverges_after_a_scored_best_saves_that_best(tmp_path, capsys, monkeypatch):
    real_update = ct._Optimizer.update

    def update_then_blow_up(self, flat, gflat):
        if self.step >= 20:
            self.lr = 1e9  # from update 21 on, steps far too large
        real_update(self, flat, gflat)

    monkeypatch.setattr(ct._Optimizer, "update", update_then_blow_up)
    corpus, saved = _corpus(tmp_path), tmp_path / "m.npz"
    code = ct.main(["train", str(corpus), "--steps", "60", *SMALL, "--eval-every", "5", "--save", str(saved)])
    assert code == 2
    err = capsys.readouterr().err
    found = re.search(r"saved the best model so far, from step (\d+) \(held-out loss (\S+)\), to ", err)
    assert found and 5 <= int(found.group(1)) <= 20, err
    model = ct.load_char_model(saved)
    assert model.train_state["step"] == int(found.group(1))


def test_command_line_keeps_the_best_model_and_resumes(tmp_path, capsys):
    names = tmp_path / "names.txt"
    names.write_text(NAMES, encoding="utf-8")
    saved = tmp_path / "m.npz"
    args = ["train", str(names), "--steps", "200", "--n-a", "48", "--seq-len", "10", "--batch-size", "4"]
    args += ["--lr", "0.03", "--eval-every", "10", "--patience", "4", "--save", str(saved)]
    assert ct.main(args) == 0
    out = capsys.readouterr().out
    found = re.search(r"held-out loss (\S+) nats/char .* at step (\d+), the best of (\d+) scores", out)
    assert found and "that model is saved" in out
    model = ct.load_char_model(saved)
    assert model.train_state["step"] == int(found.group(2))
    assert "stopped early: no better held-out loss in the last 4 scores" in out
    # resume: the run goes on from the saved step, with its optimizer
    resumed = tmp_path / "r.npz"
    assert (
        ct.main([*args[:2], "--steps", "10", *args[6:10], "--resume", str(saved), "--save", str(resumed)])
        == 0
    )
    assert "resuming from" in capsys.readouterr().err
    assert ct.load_char_model(resumed).train_state["step"] in range(
        int(found.group(2)), int(found.group(2)) + 11
    )
    assert (
        ct.main(
            [
                *args[:2],
                "--steps",
                "1",
                "--n-a",
                "8",
                *args[6:10],
                "--resume",
                str(saved),
                "--save",
                str(resumed),
            ]
        )
        == 2
    )
    assert "n_a must be the resumed model's n_a = 48" in capsys.readouterr().err


# ---------------------------------------------------------------------------
# How many threads share a batch
# ---------------------------------------------------------------------------


def test_default_threads_follows_the_measured_optimum():
    # the figures behind the rule: 16 cores peak at 4 threads for batch 128 and 8 for batch 512
    assert ct.default_threads(128, cores=16) == 4
    assert ct.default_threads(512, cores=16) == 8
    assert ct.default_threads(64, cores=2) == ct.default_threads(128, cores=2) == 2
    assert ct.default_threads(32, cores=2) == 1  # 16 streams a thread would be too few
    assert ct.default_threads(1, cores=8) == 1
    assert ct.default_threads(4096, cores=64) == ct.MAX_THREADS


def test_more_cores_never_mean_fewer_threads():
    for batch_size in (1, 16, 31, 32, 64, 100, 128, 256, 512, 1024):
        counts = [ct.default_threads(batch_size, cores=c) for c in range(1, 65)]
        assert counts == sorted(counts), batch_size
        assert all(1 <= n <= min(c, ct.MAX_THREADS) for c, n in zip(range(1, 65), counts))


def test_blas_uses_the_free_cores_only_when_the_batch_is_not_split():
    assert ct.default_blas_threads(1, cores=2) == 2
    assert ct.default_blas_threads(1, cores=1) == 1
    assert ct.default_blas_threads(1, cores=64) == ct.MAX_BLAS_THREADS
    assert ct.default_blas_threads(2, cores=2) == ct.default_blas_threads(4, cores=16) == 1


def test_the_trainer_uses_the_cores_it_may_run_on(monkeypatch):
    monkeypatch.setattr(ct, "available_cores", lambda: 3)
    _, history = ct.train_char_model(TINY, n_a=8, seq_len=5, batch_size=8, steps=1)
    assert history["threads"] == 1 and history["blas_threads"] == 3  # 8 streams: one group, BLAS on 3 cores
    _, history = ct.train_char_model(TINY * 4, n_a=8, seq_len=5, batch_size=96, steps=1)
    assert history["threads"] == 3 and history["blas_threads"] == 1
    _, history = ct.train_char_model(TINY * 4, n_a=8, seq_len=5, batch_size=96, steps=1, threads=2)
    assert history["threads"] == 2 and history["blas_threads"] == 1
    _, history = ct.train_char_model(TINY, n_a=8, seq_len=5, batch_size=8, steps=1, threads=1)
    assert history["threads"] == 1 and history["blas_threads"] == 1  # one thread asked for, one used
    with pytest.raises(ValueError, match="cores must be a positive integer; got 0"):
        ct.default_threads(64, cores=0)
