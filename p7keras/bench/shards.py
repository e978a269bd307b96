"""The larger-than-memory benchmark: a synthetic sharded corpus, inspected, trained on and evaluated.

``python -m p7keras.bench.shards`` writes a synthetic sharded corpus (default 2,000,000 chunks x 768-d
float16, about 3 GB) and then runs each stage in a child process, printing its wall time and its peak
anonymous memory (``RssAnon`` of ``/proc/PID/status``, sampled every 50 ms: the file-backed pages of the
memory maps do not count, they belong to the page cache):

* ``write``: the corpus, shard by shard (:class:`p7keras.data.shard_writer.ShardWriter`);
* ``inspect``: ``p7keras data inspect FOLDER`` (every chunk and sequence, block by block);
* ``train``: one epoch of the default transformer capped at ``--steps`` batches (``model.fit`` on the
  folder's train split), saved as ``bench.keras`` in the folder;
* ``evaluate``: ``p7keras evaluate bench.keras --data FOLDER --split all --max-samples N --no-diagnostics``
  (the figures measured before the diagnostic battery existed): N queries
  ranked against every chunk of the corpus (DIRECT, MEAN and the model, three protocols).

The synthetic articles are random walks on the sphere (each chunk the previous one plus noise,
normalised), so DIRECT is a meaningful baseline; nothing here is real text.

Example:

    $ python -m p7keras.bench.shards --chunks 2000000 --folder /tmp/p7_shards_bench --json bench_shards.json
    $ python -m p7keras.bench.shards --chunks 20000 --dim 64 --steps 5 --queries 500   # a quick check
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time

import numpy as np

from p7keras.io import add_overwrite_argument, check_writable

LIMIT_MIB = 2048  # the bound on peak anonymous memory
STAGES = ("write", "inspect", "train", "evaluate")
# absl lines TensorFlow prints before logging starts
_LOG_NOISE = ("I0000", "WARNING: All log messages", "E0000", "W0000")


def write_corpus(folder: str, chunks: int, dim: int, dtype: str, chunks_per_article: int = 20,
                 shard_chunks: int = 100_000, seed: int = 0) -> dict:
    """Write a synthetic sharded corpus of random-walk articles, shard by shard (bounded memory).

    Args:
        folder: the output folder (removed first when it holds an earlier benchmark corpus).
        chunks: N, rounded down to whole articles.
        dim: D.
        dtype: ``float32`` or ``float16`` on disk.
        chunks_per_article: chunks of every article.
        shard_chunks: the most chunks in a shard.
        seed: the generator's seed.

    Returns:
        The manifest.
    """
    from p7keras.data.shard_writer import ShardWriter  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    writer = ShardWriter(folder, dim, dtype, shard_chunks, settings={"source": "bench:random-walk", "seed": seed})
    articles = chunks // chunks_per_article
    per_shard = max(shard_chunks // chunks_per_article, 1)
    for first in range(0, articles, per_shard):
        count = min(per_shard, articles - first)
        steps = rng.standard_normal((count, chunks_per_article, dim), dtype=np.float32)
        steps /= np.linalg.norm(steps, axis=2, keepdims=True)
        walk = np.cumsum(steps * np.float32(0.6), axis=1) + steps[:, :1] * np.float32(1.5)
        walk /= np.linalg.norm(walk, axis=2, keepdims=True)
        for offset in range(count):
            writer.add(f"article-{first + offset:07d}", first + offset, walk[offset])
    return writer.close()


def status_mib(pid: int, field: str = "RssAnon") -> float | None:
    """A memory field of ``/proc/PID/status`` (``RssAnon``, ``VmRSS``, ...) in MiB, or ``None`` when unreadable."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def run_stage(argv: list[str], env: dict | None = None) -> dict:
    """Run ``argv`` as a child process; its wall time, exit code and peak ``RssAnon`` (sampled)."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = [0.0]

    def sample() -> None:
        while child.poll() is None:
            value = status_mib(child.pid)
            if value is not None:
                peak[0] = max(peak[0], value)
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = child.communicate()
    sampler.join()
    return {"seconds": round(time.perf_counter() - start, 1), "peak_rss_anon_mib": round(peak[0], 1),
            "exit_code": child.returncode, "output_tail": [line for line in output.strip().splitlines()
                                                           if not line.startswith(_LOG_NOISE)][-3:]}


def _train_stage(folder: str, steps: int, model_path: str) -> None:
    """Child process: one capped epoch of the default transformer on the folder's train split."""
    import keras  # noqa: PLC0415

    from p7keras.data import load_splits  # noqa: PLC0415
    from p7keras.training.config import TrainConfig  # noqa: PLC0415
    from p7keras.training.train import build_model  # noqa: PLC0415

    config = TrainConfig()
    splits = load_splits(folder, config.context_length, config.seed)
    model = build_model(config, splits.train.dim)
    batches = splits.train.as_dataset(config.batch_size, config.hard_negatives, seed=config.seed)
    start = time.perf_counter()
    model.fit(batches, epochs=1, steps_per_epoch=min(steps, len(batches)), verbose=0)
    seconds = time.perf_counter() - start
    model.save(model_path)
    print(f"trained {min(steps, len(batches))} steps of {len(batches)} in {seconds:.1f} s "
          f"({min(steps, len(batches)) * config.batch_size / seconds:.0f} sequences/s, backend "
          f"{keras.backend.backend()}, {len(splits.train)} training sequences)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m p7keras.bench.shards", description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", default=os.path.join("saved_models", "bench_shards"),
                        help="where the corpus goes (default saved_models/bench_shards; removed at the end "
                        "unless --keep)")
    parser.add_argument("--chunks", type=int, default=2_000_000)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--dtype", choices=("float16", "float32"), default="float16")
    parser.add_argument("--steps", type=int, default=300, help="training batches (default 300)")
    parser.add_argument("--queries", type=int, default=10_000, help="evaluated sequences (default 10,000)")
    parser.add_argument("--keep", action="store_true", help="keep the corpus folder")
    parser.add_argument("--json", metavar="OUT", help="also write the figures to this JSON file")
    add_overwrite_argument(parser, "the --json file")
    parser.add_argument("--stage-train", nargs=3, metavar=("FOLDER", "STEPS", "MODEL"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stage_train:
        _train_stage(args.stage_train[0], int(args.stage_train[1]), args.stage_train[2])
        return 0
    try:
        check_writable(args.json, overwrite=args.overwrite)  # before the stages, not after them
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    folder = os.path.abspath(args.folder)
    if os.path.exists(os.path.join(folder, "manifest.json")):
        shutil.rmtree(folder)  # an earlier run of this benchmark
    elif os.path.exists(folder) and os.listdir(folder):
        print(f"error: {folder}: exists and is not a benchmark corpus; choose another --folder", file=sys.stderr)
        return 2
    model = os.path.join(folder, "bench.keras")
    python = sys.executable
    commands = {
        "write": [python, "-c", "import sys; from p7keras.bench.shards import write_corpus; "
                  f"m = write_corpus({folder!r}, {args.chunks}, {args.dim}, {args.dtype!r}); "
                  "print(m['num_chunks'], 'chunks in', len(m['shards']), 'shards')"],
        "inspect": [python, "-m", "p7keras", "data", "inspect", folder],
        "train": [python, "-m", "p7keras.bench.shards", "--stage-train", folder, str(args.steps), model],
        "evaluate": [python, "-m", "p7keras", "evaluate", model, "--data", folder, "--split", "all",
                     "--max-samples", str(args.queries), "--latency-calls", "5", "--no-diagnostics"],
    }
    figures = {"chunks": args.chunks, "dim": args.dim, "dtype": args.dtype, "steps": args.steps,
               "queries": args.queries, "limit_mib": LIMIT_MIB, "stages": {}}
    print(f"sharded-corpus benchmark: {args.chunks} chunks x {args.dim} {args.dtype} in {folder}")
    for stage in STAGES:
        result = run_stage(commands[stage], env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
        figures["stages"][stage] = result
        if stage == "write":
            figures["disk_bytes"] = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
        mark = "ok" if result["peak_rss_anon_mib"] < LIMIT_MIB else f"OVER {LIMIT_MIB} MiB"
        print(f"{stage:9s} {result['seconds']:8.1f} s   peak RssAnon {result['peak_rss_anon_mib']:8.1f} MiB  {mark}"
              f"   exit {result['exit_code']}")
        for line in result["output_tail"]:
            print(f"          | {line}")
        if result["exit_code"] not in (0, 1):  # evaluate exits 1 when the ship gate fails
            print(f"error: stage {stage} failed", file=sys.stderr)
            return 3
    print(f"on disk: {figures['disk_bytes'] / 2**30:.2f} GiB")
    if args.json:
        from p7keras.io import write_json  # noqa: PLC0415

        write_json(args.json, figures)
        print(f"wrote {args.json}")
    if not args.keep:
        shutil.rmtree(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
