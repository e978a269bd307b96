"""``p7keras predict``: a model's top-k next chunks beside DIRECT's, for chosen sequences or a typed passage.

argparse only; the work is done by :mod:`p7keras.evaluation.predict`.

Example:

    $ p7keras predict saved_models/p7_20250101-120000                  # 3 random sequences of the run's ood split
    $ p7keras predict run/best.keras --data docs.npz --split all --article guide.md --position 7 --top-k 5
    $ p7keras predict run/ --data docs.npz --text "$(cat notes.txt)" --encoder my_encoders:encode --json out.json
    $ p7keras predict run/ --data techprose.npz --texts techprose.texts.json.gz   # texts kept beside the .npz
"""

from __future__ import annotations

import argparse
import shutil

from p7keras.cli.evaluate import MODEL_HELP, add_data_arguments, add_quantize_argument, check_quantize, resolve_data
from p7keras.console import CLIError
from p7keras.data import text  # numpy only: the chunking defaults are the flags' defaults
from p7keras.evaluation.examples import SAMPLE, TOP_K
from p7keras.io import add_overwrite_argument
from p7keras.training.config import add_backend_argument

MIN_WIDTH, MAX_WIDTH = 60, 200


def _check_flags(args: argparse.Namespace) -> None:
    """Flag combinations and values, before anything is loaded.

    Raises:
        CLIError: naming the flag.
    """
    if (args.article is None) != (args.position is None):
        raise CLIError("--article and --position go together (the article and the position of the next chunk)")
    if args.article is not None and args.sample is not None:
        raise CLIError("choose sequences with --article/--position or with --sample, not both")
    if args.text is not None and args.encoder is None:
        raise CLIError("--text needs --encoder MODULE:FN, the encoder that made the corpus's vectors")
    if args.encoder is not None and args.text is None:
        raise CLIError("--encoder goes with --text (a passage to embed)")
    if args.text is not None and (args.article is not None or args.sample is not None):
        raise CLIError("--text predicts after the typed passage: leave out --article/--position and --sample")
    for flag, value in (("--top-k", args.top_k), ("--sample", args.sample), ("--width", args.width)):
        if value is not None and value < 1:
            raise CLIError(f"{flag} must be >= 1, got {value}")


def run(args: argparse.Namespace) -> int:
    """Checks the flags and the output path, loads the model and data, prints the examples."""
    from p7keras.io import check_writable  # noqa: PLC0415

    _check_flags(args)
    check_writable(args.json, overwrite=args.overwrite)
    args.models = [args.model]
    check_quantize(args)
    resolve_data(args)
    if args.texts is not None:  # numpy only: a wrong file or count is one line before Keras loads
        from p7keras.data.formats import load_corpus, with_texts  # noqa: PLC0415

        args.data = with_texts(load_corpus(args.data), args.texts)

    from p7keras.console import import_keras_quietly  # noqa: PLC0415

    import_keras_quietly()  # the console has set KERAS_BACKEND from --backend already
    from p7keras.evaluation.predict import format_examples, predict_examples, predict_passage  # noqa: PLC0415
    from p7keras.io import write_json  # noqa: PLC0415

    where = {"split": args.split, "seed": args.seed, "top_k": args.top_k, "quantize": args.quantize}
    if args.text is not None:
        result = predict_passage(args.model, args.text, args.encoder, args.data, target_chars=args.target_chars,
                                 min_chars=args.min_chars, **where)
    else:
        result = predict_examples(args.model, args.data, article=args.article, position=args.position,
                                  sample=args.sample, **where)
    width = args.width or min(max(shutil.get_terminal_size().columns, MIN_WIDTH), MAX_WIDTH)
    print(format_examples(result, width))
    if args.json:
        write_json(args.json, result)
        print(f"wrote {args.json}")
    return 0


def register(subparsers) -> None:
    """Add the ``predict`` subcommand to the ``p7keras`` parser."""
    parser = subparsers.add_parser(
        "predict",
        help="show a model's top-k next chunks beside DIRECT's, for chosen sequences or a typed passage",
        description="For each chosen sequence: its K context chunks, the true next chunk, and the model's "
        "and DIRECT's (the last context chunk) top-k chunks of the bank (every chunk of the split) with "
        "their cosine; * marks the true next chunk, ^ a chunk of the context. Chunks are shown by their "
        "text when the corpus has texts (p7keras data from-text writes them), else by article and position.",
    )
    parser.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    add_data_arguments(parser, "split whose chunks are the bank and whose sequences are shown (the sample's seed "
                       "is --seed too)")
    chosen = parser.add_argument_group("which sequences (default: --sample 3)")
    chosen.add_argument("--article", default=None, metavar="A",
                        help="the article (its name in the corpus, or its id) of the sequence to show")
    chosen.add_argument("--position", type=int, default=None, metavar="P",
                        help="with --article: the position of the next chunk (the one to predict)")
    chosen.add_argument("--sample", type=int, default=None, metavar="N",
                        help=f"show N sequences drawn at random (seeded; default {SAMPLE})")
    typed = parser.add_argument_group("a typed passage instead")
    typed.add_argument("--text", default=None,
                       help="a passage: split into chunks as data from-text does; its last K chunks are the context")
    typed.add_argument("--encoder", default=None, metavar="MODULE:FN",
                       help="the encoder of the corpus: module:callable, path/to/file.py:callable, or a local "
                       "sentence-transformers model folder")
    typed.add_argument("--target-chars", type=int, default=text.TARGET_CHARS,
                       help=f"most characters per chunk (default {text.TARGET_CHARS})")
    typed.add_argument("--min-chars", type=int, default=text.MIN_CHARS,
                       help=f"drop chunks of this many characters or fewer (default {text.MIN_CHARS})")
    parser.add_argument("--texts", default=None, metavar="FILE",
                        help="the chunks' texts, for a corpus whose .npz has none: a JSON list of strings (.json or "
                        ".json.gz), one per chunk, in the corpus's row order")
    parser.add_argument("--top-k", type=int, default=TOP_K, help=f"bank chunks shown per query (default {TOP_K})")
    parser.add_argument("--width", type=int, default=None,
                        help=f"characters per printed line (default: the terminal's, {MIN_WIDTH} to {MAX_WIDTH})")
    add_quantize_argument(parser)
    add_backend_argument(parser)
    parser.add_argument("--json", metavar="OUT", help="also write the examples (full texts) as JSON")
    add_overwrite_argument(parser, "the --json file")
    parser.set_defaults(func=run, uses_keras=False)  # it imports Keras itself, once the flags are checked
