"""Benchmark the course's character-model trainer against two references.

    python scripts/benchmark.py                  # 60 s per run, 3 seeds: about 35 minutes
    python scripts/benchmark.py --seconds 20 --seeds 1   # a quicker look
    python scripts/benchmark.py --only ours-100 textbook
    python scripts/benchmark.py --only ours-gru,torch-gru,ours-lstm,torch-lstm   # the gated cells

Each trainer learns data/shakespeare.txt minus its last 10% for a fixed wall
time, once per seed, each run in a fresh process of its own (so that its peak
memory is its own), and the table gets one row per trainer: training
throughput in characters per second, and the loss on the held-out last 10%,
scored as one continuous stream by the same code for every trainer
(``CharModel.loss``, after copying the weights into one).

Why several seeds: after 60 s the held-out loss depends on the random initial
weights by about 0.01 nats (standard deviation over seeds), as much as the
trainers differ. One run per trainer would compare luck; the table gives the
mean and standard deviation over seeds, and the runs are interleaved (seed 0 of
every trainer, then seed 1, ...) so that a slow spell of the machine does not
fall on one trainer only.

The trainers, all the same model (tanh RNN, softmax over characters):

- ``ours-100``, ``ours-256``: ``char_trainer.train_char_model``, float32, Adam,
  ``n_a`` 100 / batch 64 / seq 50 and ``n_a`` 256 / batch 128 / seq 50.
- ``textbook``: one sequence at a time, the way the model is usually first
  written, and with the course's own teaching functions
  (``rnn_utils.rnn_loss_and_grads``, ``clip_gradients``, ``adagrad_update``):
  batch 1, seq 25, column vectors and matrix-vector products at every step,
  Adagrad, float64 (numpy's default), ``n_a`` 100.
- ``torch-100``, ``torch-256``: PyTorch on the CPU, ``torch.nn.RNN`` with
  one-hot inputs, a ``torch.nn.Linear`` output layer, Adam, the same sizes,
  learning rate, clipping and truncated BPTT as ours. Skipped when torch is
  not installed (``pip install -r requirements-bench.txt``).

And the gated cells, all at ``n_a`` 256 / batch 128 / seq 50, Adam:

- ``ours-gru``, ``ours-lstm``: ``train_char_model(cell="gru")`` and
  ``cell="lstm"``.
- ``torch-gru``, ``torch-lstm``: ``torch.nn.GRU`` and ``torch.nn.LSTM`` with a
  ``torch.nn.Linear`` output layer, built and trained as ``torch-256``. The
  LSTM's weights are copied into a ``CharModel(cell="lstm")`` and scored like
  every other row; PyTorch's GRU applies its reset gate after the recurrent
  product (``r * (W_hn h + b_hn)``, the course's GRU before it), so its
  weights do not fit the course's GRU and ``torch-gru`` is scored by PyTorch
  itself, in float64, on the same continuous stream with the same loss.

``--only ours-gru,ours-lstm,torch-gru,torch-lstm`` (commas or spaces) runs
just those rows.

This is run by hand, never by the test suite: timings are not tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import char_trainer as ct  # noqa: E402
import rnn_utils as ru  # noqa: E402

LR = 3e-3
CLIP = 5.0

CONFIGS = {
    "ours-100": {"kind": "ours", "n_a": 100, "batch": 64, "seq": 50},
    "ours-256": {"kind": "ours", "n_a": 256, "batch": 128, "seq": 50},
    "textbook": {"kind": "textbook", "n_a": 100, "batch": 1, "seq": 25},
    "torch-100": {"kind": "torch", "n_a": 100, "batch": 64, "seq": 50},
    "torch-256": {"kind": "torch", "n_a": 256, "batch": 128, "seq": 50},
    "ours-gru": {"kind": "ours", "cell": "gru", "n_a": 256, "batch": 128, "seq": 50},
    "ours-lstm": {"kind": "ours", "cell": "lstm", "n_a": 256, "batch": 128, "seq": 50},
    "torch-gru": {"kind": "torch", "cell": "gru", "n_a": 256, "batch": 128, "seq": 50},
    "torch-lstm": {"kind": "torch", "cell": "lstm", "n_a": 256, "batch": 128, "seq": 50},
}
# Rows compared in the ratios printed under the table: ours against torch, same model and sizes.
PAIRS = [
    ("ours-100", "torch-100"),
    ("ours-256", "torch-256"),
    ("ours-gru", "torch-gru"),
    ("ours-lstm", "torch-lstm"),
]


def load_corpus():
    text = (ROOT / "data" / "shakespeare.txt").read_text(encoding="utf-8")
    split = int(len(text) * 0.9)
    return text[:split], text[split:]


def run_ours(cfg, train, seconds, seed):
    model, history = ct.train_char_model(
        train,
        cell=cfg.get("cell", "rnn"),
        n_a=cfg["n_a"],
        seq_len=cfg["seq"],
        batch_size=cfg["batch"],
        lr=LR,
        seconds=seconds,
        seed=seed,
        clip_norm=CLIP,
    )
    return model, history["chars"], history["seconds"]


def run_textbook(cfg, train, seconds, seed):
    """One sequence at a time, with the course's own teaching functions: the
    loop a learner writes after notebooks 4 and 5."""
    vocab = ru.CharVocab(train)
    ids = vocab.encode(train)
    V, n_a, T = vocab.size, cfg["n_a"], cfg["seq"]
    params = ru.init_params(V, n_a, V, np.random.default_rng(seed), scale=0.01)
    states = {k: ru.init_adagrad_state(v) for k, v in params.items()}
    a_prev = np.zeros((n_a, 1))
    pos, chars = 0, 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        if pos + T + 1 > len(ids):
            pos, a_prev = 0, np.zeros((n_a, 1))
        x = ru.one_hot(ids[np.newaxis, pos : pos + T], V)  # (V, 1, T): a batch of one
        y = ru.one_hot(ids[np.newaxis, pos + 1 : pos + T + 1], V)
        _, grads, a_prev = ru.rnn_loss_and_grads(x, y, a_prev, params)
        grads = ru.clip_gradients({k: grads["d" + k] for k in params}, max_value=CLIP)  # each entry
        for k in params:  # eps 1e-4: the classic loop's sqrt(s + 1e-8), which damps rare tiny gradients
            params[k], states[k] = ru.adagrad_update(
                params[k], grads[k], states[k], 0.1, eps=1e-4, inplace=True
            )
        pos += T
        chars += T
    return ct.CharModel(vocab, params), chars, time.perf_counter() - start


def run_torch(cfg, train, seconds, seed):
    import torch

    torch.manual_seed(seed)
    vocab = ru.CharVocab(train)
    ids = torch.from_numpy(vocab.encode(train))
    V, n_a, B, T = vocab.size, cfg["n_a"], cfg["batch"], cfg["seq"]
    cell = cfg.get("cell", "rnn")
    if cell == "gru":
        rnn = torch.nn.GRU(V, n_a)
    elif cell == "lstm":
        rnn = torch.nn.LSTM(V, n_a)
    else:
        rnn = torch.nn.RNN(V, n_a, nonlinearity="tanh")
    head = torch.nn.Linear(n_a, V)

    def zero_state():
        h0 = torch.zeros(1, B, n_a)
        return (h0, torch.zeros(1, B, n_a)) if cell == "lstm" else h0

    params = list(rnn.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=LR)
    span = (len(ids) - 1) // B // T * T
    inputs = ids[: B * span].view(B, span)
    targets = ids[1 : B * span + 1].view(B, span)
    h = zero_state()
    chunk, chars = 0, 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        if (chunk + 1) * T > span:
            chunk, h = 0, zero_state()
        x = torch.nn.functional.one_hot(inputs[:, chunk * T : (chunk + 1) * T].T, V).float()
        y = targets[:, chunk * T : (chunk + 1) * T].T
        out, h = rnn(x, h)
        h = tuple(s.detach() for s in h) if cell == "lstm" else h.detach()
        loss = torch.nn.functional.cross_entropy(head(out).reshape(-1, V), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, CLIP)
        opt.step()
        chunk += 1
        chars += B * T
    elapsed = time.perf_counter() - start
    if cell == "gru":
        return TorchScorer(vocab, rnn, head), chars, elapsed, torch.get_num_threads()
    if cell == "lstm":
        return (
            ct.CharModel(vocab, torch_lstm_params(rnn, head), "lstm"),
            chars,
            elapsed,
            torch.get_num_threads(),
        )
    with torch.no_grad():
        p = {
            "Wax": rnn.weight_ih_l0.double().numpy(),
            "Waa": rnn.weight_hh_l0.double().numpy(),
            "ba": (rnn.bias_ih_l0 + rnn.bias_hh_l0).double().numpy()[:, None],
            "Wya": head.weight.double().numpy(),
            "by": head.bias.double().numpy()[:, None],
        }
    return ct.CharModel(vocab, p), chars, elapsed, torch.get_num_threads()


def torch_lstm_params(lstm, head):
    """A ``torch.nn.LSTM`` and its output layer as the course's LSTM parameters
    (float64). PyTorch stacks the gates as [i | f | g | o] and adds two biases;
    the course's W_g acts on [a_prev; x]."""
    import torch

    n_a = lstm.hidden_size
    with torch.no_grad():
        W_ih, W_hh = lstm.weight_ih_l0.double().numpy(), lstm.weight_hh_l0.double().numpy()
        b = (lstm.bias_ih_l0 + lstm.bias_hh_l0).double().numpy()
        p = {}
        for k, g in enumerate("ifco"):  # PyTorch's order; its g is the course's candidate c
            rows = slice(k * n_a, (k + 1) * n_a)
            p["W" + g] = np.concatenate([W_hh[rows], W_ih[rows]], axis=1)
            p["b" + g] = b[rows, None]
        p["Wy"], p["by"] = head.weight.double().numpy(), head.bias.double().numpy()[:, None]
    return {k: p[k] for k in ("Wf", "bf", "Wi", "bi", "Wc", "bc", "Wo", "bo", "Wy", "by")}


class TorchScorer:
    """Scores held-out text with a PyTorch model itself, in float64, exactly as
    ``CharModel.loss`` does: one continuous stream from the zero state, the
    mean cross-entropy of each character after the first."""

    def __init__(self, vocab, rnn, head):
        self.vocab, self.rnn, self.head = vocab, rnn, head

    def loss(self, text):
        import copy

        import torch

        ids = torch.from_numpy(self.vocab.encode(text))
        rnn, head = copy.deepcopy(self.rnn).double(), copy.deepcopy(self.head).double()
        total, h = 0.0, None
        with torch.no_grad():
            for start in range(0, len(ids) - 1, 8192):
                x_ids = ids[start : min(start + 8192, len(ids) - 1)]
                x = torch.nn.functional.one_hot(x_ids, self.vocab.size).double()[:, None, :]
                out, h = rnn(x, h)
                y = ids[start + 1 : start + 1 + len(x_ids)]
                total += torch.nn.functional.cross_entropy(head(out[:, 0]), y, reduction="sum").item()
        return total / (len(ids) - 1)


def child(name, seconds, seed):
    """Run one trainer and print its results as JSON (in a process of its own)."""
    cfg = CONFIGS[name]
    train, held_out = load_corpus()
    threads = None
    if cfg["kind"] == "ours":
        model, chars, elapsed = run_ours(cfg, train, seconds, seed)
    elif cfg["kind"] == "textbook":
        model, chars, elapsed = run_textbook(cfg, train, seconds, seed)
    else:
        model, chars, elapsed, threads = run_torch(cfg, train, seconds, seed)
    result = {
        "name": name,
        "seed": seed,
        "chars_per_second": chars / elapsed,
        "held_out_loss": model.loss(held_out),
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "threads": threads,
    }
    print(json.dumps(result))


def torch_available():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def summarise(runs):
    """Mean chars/s, mean and standard deviation of the held-out loss, largest peak memory."""
    losses = np.array([r["held_out_loss"] for r in runs])
    return {
        "chars_per_second": float(np.mean([r["chars_per_second"] for r in runs])),
        "held_out_mean": float(losses.mean()),
        "held_out_sd": float(losses.std(ddof=1)) if len(runs) > 1 else float("nan"),
        "peak_mb": max(r["peak_mb"] for r in runs),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="training wall time per run (default 60)")
    parser.add_argument("--seeds", type=int, default=3, help="runs per trainer, seeds 0, 1, ... (default 3)")
    parser.add_argument(
        "--only",
        nargs="+",
        help=f"run only these trainers, by name, separated by commas or spaces: {', '.join(CONFIGS)}",
    )
    parser.add_argument("--json", type=Path, help="also write every run's results to this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.seconds, args.seed)
        return
    if args.seeds < 1:
        parser.error(f"--seeds must be at least 1; got {args.seeds}")
    names = [n for item in args.only for n in item.split(",") if n] if args.only else list(CONFIGS)
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        parser.error(f"--only: unknown trainer(s) {', '.join(unknown)}; choose from {', '.join(CONFIGS)}")
    if not torch_available():
        skipped = [n for n in names if CONFIGS[n]["kind"] == "torch"]
        if skipped:
            print(f"torch is not installed: skipping {', '.join(skipped)}", file=sys.stderr)
        names = [n for n in names if n not in skipped]
    runs = {name: [] for name in names}
    for seed in range(args.seeds):  # interleaved: a slow spell hits every trainer alike
        for name in names:
            print(f"running {name}, seed {seed}, for {args.seconds:.0f} s ...", file=sys.stderr, flush=True)
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    name,
                    "--seconds",
                    str(args.seconds),
                    "--seed",
                    str(seed),
                ],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            run = json.loads(out.strip().splitlines()[-1])
            print(
                f"  {run['chars_per_second']:,.0f} chars/s, held-out {run['held_out_loss']:.4f}",
                file=sys.stderr,
                flush=True,
            )
            runs[name].append(run)
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1) + "\n", encoding="utf-8")
    results = {name: summarise(r) for name, r in runs.items()}

    cpu = next(
        (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
        platform.processor(),
    )
    print(
        f"\nMachine: {cpu}, {len(os.sched_getaffinity(0))} cores; numpy {np.__version__}"
        + (f", torch {__import__('torch').__version__}" if torch_available() else "")
    )
    print(
        f"Training for {args.seconds:.0f} s on {len(load_corpus()[0]):,} characters of data/shakespeare.txt, "
        f"{args.seeds} seed(s) per trainer; held-out loss on the last 10%, one continuous stream "
        "(mean ± standard deviation over seeds).\n"
    )
    print("| trainer | cell | n_a | batch | seq | chars/s | held-out loss (nats/char) | peak memory |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, r in results.items():
        cfg = CONFIGS[name]
        spread = f" ± {r['held_out_sd']:.3f}" if args.seeds > 1 else ""
        print(
            f"| {name} | {cfg.get('cell', 'rnn')} | {cfg['n_a']} | {cfg['batch']} | {cfg['seq']} "
            f"| {r['chars_per_second']:,.0f} "
            f"| {r['held_out_mean']:.3f}{spread} | {r['peak_mb']:.0f} MB |"
        )
    ratios, gaps = [], []
    if "ours-100" in results and "textbook" in results:
        ratio = results["ours-100"]["chars_per_second"] / results["textbook"]["chars_per_second"]
        ratios.append(f"ours-100 / textbook: {ratio:.1f}x")
    for ours_name, torch_name in PAIRS:
        ours, torch = results.get(ours_name), results.get(torch_name)
        if ours and torch:
            ratios.append(
                f"{ours_name} / {torch_name}: {ours['chars_per_second'] / torch['chars_per_second']:.2f}x"
            )
            gap = ours["held_out_mean"] - torch["held_out_mean"]
            # standard error of a difference of two means
            se = np.sqrt(ours["held_out_sd"] ** 2 / args.seeds + torch["held_out_sd"] ** 2 / args.seeds)
            gaps.append(
                f"{ours_name} - {torch_name}: {gap:+.3f}" + (f" (± {se:.3f})" if args.seeds > 1 else "")
            )
    if ratios:
        print("\nThroughput ratios: " + "; ".join(ratios))
    if gaps:
        print("Held-out loss, mean of ours minus mean of torch (negative: ours is lower): " + "; ".join(gaps))


if __name__ == "__main__":
    main()
