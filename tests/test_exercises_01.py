"""Feed the exercise checks of notebook 1 typical wrong answers: each must fail with the right hint."""

import numpy as np
import pytest

import rnn_utils
from tests.notebook_exercises import load_checks, run_check

CHECKS = load_checks("01_notation.ipynb")


# ---------------------------------------------------------------- exercise 1: encode_batch


def right_encode_batch(texts, vocab):
    return rnn_utils.pad_batch([vocab.encode(text) for text in texts], vocab.size)


def stub_encode_batch(texts, vocab):
    raise NotImplementedError


def axes_m_first(texts, vocab):
    x, mask = right_encode_batch(texts, vocab)
    return x.transpose(1, 0, 2), mask  # (m, n_x, T_x)


def pad_with_first_character(texts, vocab):
    x, mask = right_encode_batch(texts, vocab)
    x[0][mask == 0] = 1.0  # the one-hot vector of id 0 (the space) at every padded step
    return x, mask


def mask_of_ones(texts, vocab):
    x, mask = right_encode_batch(texts, vocab)
    return x, np.ones_like(mask)


def mask_transposed(texts, vocab):
    x, mask = right_encode_batch(texts, vocab)
    return x, mask.T


def T_x_from_first_truncated(texts, vocab):
    T_x = len(texts[0])
    x = np.zeros((vocab.size, len(texts), T_x))
    mask = np.zeros((len(texts), T_x))
    for i, text in enumerate(texts):
        n = min(len(text), T_x)
        x[:, i, :n] = rnn_utils.one_hot(vocab.encode(text[:n]), vocab.size)
        mask[i, :n] = 1
    return x, mask


def T_x_from_first_crashing(texts, vocab):
    T_x = len(texts[0])
    x = np.zeros((vocab.size, len(texts), T_x))
    mask = np.zeros((len(texts), T_x))
    for i, text in enumerate(texts):
        x[:, i, : len(text)] = rnn_utils.one_hot(vocab.encode(text), vocab.size)  # too long: ValueError
        mask[i, : len(text)] = 1
    return x, mask


def padded_at_the_start(texts, vocab):
    x, mask = right_encode_batch(texts, vocab)
    T_x = mask.shape[1]
    x_front, mask_front = np.zeros_like(x), np.zeros_like(mask)
    for i, text in enumerate(texts):
        n = len(text)
        x_front[:, i, T_x - n :] = x[:, i, :n]
        mask_front[i, T_x - n :] = 1
    return x_front, mask_front


def padded_at_the_start_mask_right(texts, vocab):
    return padded_at_the_start(texts, vocab)[0], right_encode_batch(texts, vocab)[1]


def wrong_character(texts, vocab):
    x, mask = right_encode_batch(texts, vocab)
    return np.roll(x, 1, axis=0), mask  # every id off by one


@pytest.mark.parametrize(
    "answer, hint",
    [
        (axes_m_first, "order (m, n_x, T_x)"),
        (pad_with_first_character, "one-hot vector of a character (id 0, ' ')"),
        (mask_of_ones, "the mask is 1 everywhere"),
        (mask_transposed, "yours is transposed"),
        (T_x_from_first_truncated, "T_x was taken from the first string"),
        (T_x_from_first_crashing, "T_x is the length of the longest string, not the first"),
        (padded_at_the_start, "the padding is at the start"),
        (padded_at_the_start_mask_right, "the padding is at the start"),
        (wrong_character, "the one-hot vector of character t + 1"),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_encode_batch_check_fails_with_the_right_hint(answer, hint):
    out = run_check(CHECKS["check_encode_batch"], answer)
    assert "FAIL" in out and "Hint" in out and "PASS" not in out, out
    assert hint in out, out


def test_encode_batch_check_passes_the_right_answer_and_waits_for_the_stub():
    assert "encode_batch: PASS" in run_check(CHECKS["check_encode_batch"], right_encode_batch)
    assert run_check(CHECKS["check_encode_batch"], stub_encode_batch) == "encode_batch: not implemented yet\n"


# ---------------------------------------------------------------- exercise 2: frame_signal


def right_frames(signal, L, H):
    T_x = (signal.size - L) // H + 1
    return np.stack([signal[t * H : t * H + L] for t in range(T_x)], axis=1)


def stub_frames(signal, L, H):
    raise NotImplementedError


def frames_as_rows(signal, L, H):
    return right_frames(signal, L, H).T


def hop_of_L(signal, L, H):
    T_x = signal.size // L
    return signal[: T_x * L].reshape(T_x, L).T  # section 1's framing, ignoring H


def frames_past_the_end_padded(signal, L, H):
    T_x = -(-signal.size // H)  # every start inside the signal, short frames padded with zeros
    padded = np.concatenate([signal, np.zeros(L)])
    return np.stack([padded[t * H : t * H + L] for t in range(T_x)], axis=1)


def frames_past_the_end_crashing(signal, L, H):
    T_x = signal.size // H
    frames = np.zeros((L, T_x))
    for t in range(T_x):
        frames[:, t] = signal[t * H : t * H + L]  # a short slice at the end: ValueError
    return frames


def one_sample_late(signal, L, H):
    T_x = (signal.size - L) // H + 1
    padded = np.concatenate([signal, [0.0]])
    return np.stack([padded[t * H + 1 : t * H + L + 1] for t in range(T_x)], axis=1)  # s_(t-1)H+1 as an index


def reshape_without_transpose(signal, L, H):
    if H != L:
        return right_frames(signal, L, H)
    T_x = signal.size // L
    return signal[: T_x * L].reshape(L, T_x)


@pytest.mark.parametrize(
    "answer, hint",
    [
        (frames_as_rows, "the frames are rows"),
        (hop_of_L, "they start every H samples"),
        (frames_past_the_end_padded, "frames that run past the end are counted"),
        (frames_past_the_end_crashing, "a frame that would run past the end of the signal is not taken"),
        (one_sample_late, "every frame starts one sample late"),
        (reshape_without_transpose, "reshape(L, T_x) fills rows first"),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_frame_signal_check_fails_with_the_right_hint(answer, hint):
    out = run_check(CHECKS["check_frame_signal"], answer)
    assert "FAIL" in out and "Hint" in out and "PASS" not in out, out
    assert hint in out, out


def test_frame_signal_check_passes_the_right_answer_and_waits_for_the_stub():
    assert "frame_signal: PASS" in run_check(CHECKS["check_frame_signal"], right_frames)
    assert run_check(CHECKS["check_frame_signal"], stub_frames) == "frame_signal: not implemented yet\n"
