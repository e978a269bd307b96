"""``p7keras data``: inspect a dataset, write a synthetic corpus, turn text into a corpus, shard one.

argparse only; the work is done by :mod:`p7keras.data`.

Example:

    $ p7keras data inspect corpus.npz --context 5 --json report.json
    $ p7keras data synth --out synthetic.npz --num-articles 200 --forward-strength 1.0
    $ p7keras data from-text docs/ --encoder my_encoders:encode --out docs.npz
    $ p7keras data shard docs.npz --out docs_shards/ --shard-chunks 100000 --dtype float16
    $ p7keras data verify docs_shards/

Every output (``--out``, ``--json``) is checked before the work and an existing one is refused unless
``--overwrite`` is given (:func:`p7keras.io.check_writable`); an interrupted ``from-text`` into a folder
resumes there.
"""

from __future__ import annotations

import argparse
import sys

from p7keras.config import DEFAULTS
from p7keras.data import shard_writer, shards, synthetic, text  # numpy only: their defaults are the flags' defaults
from p7keras.data.splits import ALL, SPLITS
from p7keras.io import add_overwrite_argument, check_writable


class _DeprecatedAlias(argparse.Action):
    """Stores the value like the flag it stands for, with a warning that names that flag."""

    def __init__(self, *args, replacement: str, **kwargs):
        self.replacement = replacement
        super().__init__(*args, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"p7keras: warning: {option_string} is deprecated and will be removed in the next release; "
              f"use {self.replacement}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def _inspect(args: argparse.Namespace) -> int:
    from p7keras.data import format_report, inspect_data  # noqa: PLC0415
    from p7keras.io import write_json  # noqa: PLC0415

    check_writable(args.json, overwrite=args.overwrite)  # before the report, not after it
    report = inspect_data(args.path, args.context, args.split, args.seed)
    print(format_report(report))
    if args.json:
        write_json(args.json, report)
        print(f"wrote {args.json}")
    return 1 if report["verdict"] == "unusable" else 0  # as a FAIL verdict: a script can stop on data training refuses


def _synth(args: argparse.Namespace) -> int:
    from p7keras.data import make_synthetic_corpus, save_corpus  # noqa: PLC0415

    check_writable(args.out, overwrite=args.overwrite)
    corpus = make_synthetic_corpus(
        num_articles=args.num_articles,
        chunks_per_article=args.chunks_per_article,
        dim=args.dim,
        similarity=args.similarity,
        forward_strength=args.forward_strength,
        seed=args.seed,
    )
    save_corpus(corpus, args.out)
    _wrote(args.out, corpus, "synthetic chunks")
    return 0


def _from_text(args: argparse.Namespace) -> int:
    from p7keras.data import text_to_corpus  # noqa: PLC0415
    from p7keras.data.shard_writer import check_out_folder  # noqa: PLC0415
    from p7keras.data.text import text_to_shards  # noqa: PLC0415

    if _is_folder_out(args.out):
        check_out_folder(args.out, args.overwrite)
        manifest = text_to_shards(args.directory, args.encoder, args.out, args.shard_chunks, args.dtype,
                                  args.target_chars, args.min_chars, args.min_chunks, stream=sys.stderr,
                                  overwrite=args.overwrite)
        _wrote_shards(args.out, manifest)
        return 0
    check_writable(args.out, overwrite=args.overwrite)
    corpus = text_to_corpus(args.directory, args.encoder, args.out, args.target_chars, args.min_chars,
                            args.min_chunks, stream=sys.stderr)
    _wrote(args.out, corpus, "chunks")
    return 0


def _is_folder_out(out: str) -> bool:
    """``--out`` names a sharded corpus folder (anything not ending in ``.npz``), else an ``.npz``."""
    return not out.lower().endswith(".npz")


def _shard(args: argparse.Namespace) -> int:
    from p7keras.data import load_corpus  # noqa: PLC0415
    from p7keras.data.shard_writer import check_out_folder, write_shards  # noqa: PLC0415

    check_out_folder(args.out, args.overwrite)
    with shard_writer.out_folder_lock(args.out):  # one writer per folder, taken before the corpus is read
        corpus = load_corpus(args.path)
        _wrote_shards(args.out, write_shards(corpus, args.out, args.shard_chunks, args.dtype, args.overwrite))
    return 0


def _verify(args: argparse.Namespace) -> int:
    from p7keras.data import DataError  # noqa: PLC0415
    from p7keras.data.shards import damage_line, verify_shards  # noqa: PLC0415

    report = verify_shards(args.path, stream=sys.stdout)
    damage = damage_line(report)
    if damage is not None:  # every shard has its line above; exit code 2 like any damaged input
        raise DataError(damage)
    print(f"ok: {report['folder']}: {report['shards']} shards, {report['chunks']} chunks, {report['articles']} "
          f"articles, D = {report['dim']}, {report['dtype']}; every checksum and row checked")
    return 0


def _wrote_shards(folder: str, manifest: dict) -> None:
    """Say what was written to a sharded corpus folder."""
    print(f"wrote {folder}: {manifest['num_chunks']} chunks, {manifest['num_articles']} articles, "
          f"D = {manifest['dim']}, {manifest['dtype']}, {len(manifest['shards'])} shards")


def _wrote(path: str, corpus, what: str) -> None:
    """Say what was written."""
    print(f"wrote {path}: {corpus.num_chunks} {what}, {corpus.num_articles} articles, D = {corpus.dim}")


def _help(parser: argparse.ArgumentParser):
    """A ``func`` that prints ``parser``'s help and returns exit code 2 (no sub-command given)."""

    def show(_args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    return show


def register(subparsers) -> None:
    """Add the ``data`` subcommand (``inspect``, ``synth``, ``from-text``) to the ``p7keras`` parser."""
    parser = subparsers.add_parser("data", help="inspect, synthesise or build chunk corpora")
    parser.set_defaults(func=_help(parser), uses_keras=False)
    commands = parser.add_subparsers(dest="data_command", metavar="DATA_COMMAND")

    inspect = commands.add_parser("inspect", help="data-quality report (spec section 9)",
                                  description="Data-quality report (spec section 9) ending in a verdict. Exit code 0, "
                                  "or 1 when the verdict is unusable (data train refuses).")
    inspect.add_argument("path", help="chunk corpus or sequence file (.npz), or a sharded corpus folder")
    inspect.add_argument("--context", type=int, default=None,
                         help=f"context length K (default {DEFAULTS.context_length}, or the sequence file's K)")
    inspect.add_argument("--split", choices=[ALL, *SPLITS], default=ALL,
                         help="which split to report (default all)")
    inspect.add_argument("--seed", type=int, default=DEFAULTS.seed, help=f"split seed (default {DEFAULTS.seed})")
    inspect.add_argument("--json", metavar="OUT", help="also write the report as JSON")
    add_overwrite_argument(inspect, "the --json file")
    inspect.set_defaults(func=_inspect)

    synth = commands.add_parser("synth", help="write a synthetic forward-flow chunk corpus (synthetic data)")
    synth.add_argument("--out", required=True, help="destination .npz")
    synth.add_argument("--dim", type=int, default=synthetic.DIM, help=f"D (default {synthetic.DIM})")
    synth.add_argument("--num-articles", type=int, default=synthetic.NUM_ARTICLES,
                       help=f"number of articles (default {synthetic.NUM_ARTICLES})")
    synth.add_argument("--articles", dest="num_articles", type=int, action=_DeprecatedAlias,
                       replacement="--num-articles", help="deprecated spelling of --num-articles")
    synth.add_argument("--chunks-per-article", type=int, default=synthetic.CHUNKS_PER_ARTICLE,
                       help=f"chunks per article (default {synthetic.CHUNKS_PER_ARTICLE})")
    synth.add_argument("--similarity", type=float, default=synthetic.SIMILARITY,
                       help=f"mean cos(c_K, y) (default {synthetic.SIMILARITY})")
    synth.add_argument("--forward-strength", type=float, default=synthetic.FORWARD_STRENGTH,
                       help=f"0 = no direction (default {synthetic.FORWARD_STRENGTH})")
    synth.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    add_overwrite_argument(synth, "the --out file")
    synth.set_defaults(func=_synth)

    from_text = commands.add_parser("from-text", help="turn a folder of .txt/.md files into a chunk corpus")
    from_text.add_argument("directory", help="folder of .txt/.md files, one article per file")
    from_text.add_argument("--encoder", required=True,
                           help="module:callable, path/to/file.py:callable, "
                           "or a local sentence-transformers model folder")
    from_text.add_argument("--out", required=True,
                           help="destination .npz, or a folder (any name not ending in .npz): a sharded corpus "
                           "written shard by shard, resumable after a kill")
    from_text.add_argument("--target-chars", type=int, default=text.TARGET_CHARS,
                           help=f"most characters per chunk (default {text.TARGET_CHARS})")
    from_text.add_argument("--min-chars", type=int, default=text.MIN_CHARS,
                           help=f"drop chunks of this many characters or fewer (default {text.MIN_CHARS})")
    from_text.add_argument("--min-chunks", type=int, default=text.MIN_CHUNKS,
                           help=f"drop articles with fewer chunks (default {text.MIN_CHUNKS})")
    _shard_options(from_text)
    add_overwrite_argument(from_text, "the --out file or sharded corpus (an interrupted write into a folder "
                           "resumes without it)")
    from_text.set_defaults(func=_from_text)

    shard = commands.add_parser("shard", help="write a corpus as a folder of memory-mapped shards (larger than memory)")
    shard.add_argument("path", help="chunk corpus (.npz)")
    shard.add_argument("--out", required=True, help="destination folder (must not hold a sharded corpus yet)")
    _shard_options(shard)
    add_overwrite_argument(shard, "the sharded corpus in --out")
    shard.set_defaults(func=_shard)

    verify = commands.add_parser("verify", help="check every checksum and vector of a sharded corpus")
    verify.add_argument("path", help="sharded corpus folder")
    verify.set_defaults(func=_verify)


def _shard_options(parser: argparse.ArgumentParser) -> None:
    """``--shard-chunks`` and ``--dtype`` of the commands that write shards."""
    default = shard_writer.DEFAULT_SHARD_CHUNKS
    parser.add_argument("--shard-chunks", type=int, default=default,
                        help=f"most chunks per shard; articles are never split (default {default})")
    parser.add_argument("--dtype", choices=shards.DTYPES, default="float32",
                        help="vectors on disk: float32 (exact) or float16 (half the size, renormalised when read)")
