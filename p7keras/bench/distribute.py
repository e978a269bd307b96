"""Data-parallel training throughput: one device, N devices of one process, N processes, side by side.

``python -m p7keras.bench.distribute`` runs the same ``p7keras train`` (synthetic corpus, a small
transformer) in fresh child processes, alternating the settings round after round, and prints the
training sequences per second of each run (the median epoch after the first, which compiles) and each
setting's ratio to one device in the same round:

* ``1 device``: ``--distribute none``;
* ``N devices``: ``--distribute data-parallel --cpu-devices N`` (or every accelerator with ``--devices 0``);
* ``N processes`` (JAX): N processes on 127.0.0.1, each with one CPU device (``--coordinator``...).

On a CPU the devices share the same cores, so no gain is expected: the figures are the overhead of the
split (and of the collectives between processes).

Example:

    $ python -m p7keras.bench.distribute --backend jax --rounds 2
    $ python -m p7keras.bench.distribute --backend tensorflow --rounds 2 --no-processes
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

from p7keras.io import add_overwrite_argument, check_writable, write_json

from p7keras.training.distribute import free_port

ARTICLES = 600  # synthetic articles of 50 chunks: about 24k training sequences, epochs long enough to time
SETTINGS = ["--num-articles", str(ARTICLES), "--d-model", "128", "--num-heads", "4", "--num-layers", "2",
            "--ff-dim", "256", "--batch-size", "64", "--no-export", "--warmup-epochs", "1"]
_EPOCH = re.compile(r"^Epoch (\d+)/\d+ - ([0-9.]+)s")


def _train_sequences(batch_size: int, dropped: bool) -> int:
    """Sequences one epoch trains on (the synthetic corpus's training split; whole batches when ``dropped``)."""
    from p7keras.training import TrainConfig  # noqa: PLC0415
    from p7keras.training.train import load_data  # noqa: PLC0415

    count = len(load_data(TrainConfig(num_articles=ARTICLES)).train)
    return count // batch_size * batch_size if dropped else count


def _epoch_seconds(output: str) -> list[float]:
    return [float(m.group(2)) for m in map(_EPOCH.match, output.splitlines()) if m]


def run_setting(name: str, backend: str, epochs: int, devices: int, folder: str) -> float:
    """Seconds of the median epoch after the first of one run of setting ``name``.

    Raises:
        RuntimeError: a child process failed (its last error line).
    """
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("XLA_FLAGS", None)
    base = [sys.executable, "-m", "p7keras", "train", *SETTINGS, "--epochs", str(epochs), "--output-dir",
            tempfile.mkdtemp(dir=folder)]
    if name == "1 device":
        commands = [[*base, "--distribute", "none"]]
    elif name.endswith("devices"):
        commands = [[*base, "--distribute", "data-parallel", *(["--cpu-devices", str(devices)] if devices else [])]]
    else:
        port = free_port()
        commands = [[*base, "--distribute", "data-parallel", "--cpu-devices", "1", "--coordinator",
                     f"127.0.0.1:{port}", "--num-processes", str(devices), "--process-id", str(i)]
                    for i in range(devices)]
    children = [subprocess.Popen(c, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for c in commands]
    outputs = [child.communicate() for child in children]
    for child, (_, err) in zip(children, outputs):
        if child.returncode not in (0, 1):  # 1: a FAIL verdict, expected of a short run
            raise RuntimeError(f"{name}: exit {child.returncode}: {(err.strip().splitlines() or ['?'])[-1]}")
    seconds = _epoch_seconds(outputs[0][0])[1:]
    if not seconds:
        raise RuntimeError(f"{name}: no epoch after the first was timed (give --epochs 2 or more)")
    return statistics.median(seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m p7keras.bench.distribute", description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("jax", "tensorflow"), default=os.environ.get("KERAS_BACKEND", "jax"))
    parser.add_argument("--devices", type=int, default=2, help="N (0: every accelerator, no process setting)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-processes", dest="processes", action="store_false",
                        help="leave out the N-processes setting (JAX only)")
    parser.add_argument("--json", help="also write the figures here")
    add_overwrite_argument(parser, "the --json file")
    args = parser.parse_args(argv)
    try:
        check_writable(args.json, overwrite=args.overwrite)  # before the runs, not after them
    except OSError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    names = ["1 device", f"{args.devices or 'all'} devices"]
    if args.processes and args.backend == "jax" and args.devices:
        names.append(f"{args.devices} processes")
    batch = int(SETTINGS[SETTINGS.index("--batch-size") + 1])
    sequences = {name: _train_sequences(batch, dropped=name != "1 device") for name in names}
    print(f"backend {args.backend}, synthetic corpus of {ARTICLES} articles ({sequences['1 device']} training "
          f"sequences), transformer d_model 128 x 2 layers, global batch {batch}, "
          f"{args.epochs} epochs per run, median epoch after the first; {args.rounds} rounds alternating", flush=True)
    rounds = []
    with tempfile.TemporaryDirectory() as folder:
        for number in range(1, args.rounds + 1):
            figures = {}
            for name in names:
                seconds = run_setting(name, args.backend, args.epochs, args.devices, folder)
                figures[name] = sequences[name] / seconds
            ratios = "  ".join(f"{name} {figures[name]:.0f} seq/s ({figures[name] / figures['1 device']:.2f}x)"
                               for name in names)
            print(f"round {number}: {ratios}", flush=True)
            rounds.append(figures)
    if args.json:
        write_json(args.json, {"backend": args.backend, "rounds": rounds})
    return 0


if __name__ == "__main__":
    sys.exit(main())
