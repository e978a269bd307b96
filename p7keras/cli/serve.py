"""``p7keras serve``: a trained ranker as a next-chunk HTTP service over a bank, with a page at ``/``.

argparse and checks only (before Keras loads: the model path, the bank, the port, the index folder);
the service is :mod:`p7keras.serve`.

Example:

    $ p7keras serve saved_models/p7_20260101-120000 --bank corpus.npz            # http://127.0.0.1:8000/
    $ p7keras serve run/best.keras --bank big_shards/ --index hnsw --port 9001
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import signal
import socket
import threading

from p7keras.cli.evaluate import MODEL_HELP, SPLIT_CHOICES, add_quantize_argument, check_quantize
from p7keras.console import CLIError
from p7keras.config import DEFAULTS
from p7keras.training.config import add_backend_argument

GRACEFUL_SECONDS = 30


def _check_port(host: str, port: int) -> None:
    """Refuses a port that cannot be bound now (in use, privileged, unknown host), before loading anything."""
    if not 0 <= port <= 65535:
        raise CLIError(f"--port must be 0 to 65535, got {port}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise CLIError(f"--host {host}: cannot resolve ({error})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            why = "is in use" if error.errno == errno.EADDRINUSE else f"cannot be bound ({error.strerror})"
            raise CLIError(f"{host}:{port} {why}; choose another --port") from None


def _check(args: argparse.Namespace) -> None:
    """Flags, the model path, the bank (read, numpy only), the index folder and the port; exit 2 on each."""
    from p7keras.evaluation.bank_index import IndexSettings  # noqa: PLC0415 (numpy only)
    from p7keras.evaluation.predictors import check_model_path  # noqa: PLC0415
    from p7keras.io import check_writable  # noqa: PLC0415
    from p7keras.serve.loading import default_index_dir  # noqa: PLC0415 (no Keras: checked by test_import_graph)

    for flag, value, low in (("--top-k-limit", args.top_k_limit, 1), ("--max-batch", args.max_batch, 1),
                             ("--max-sequences", args.max_sequences, 1), ("--max-body-mb", args.max_body_mb, 0.001),
                             ("--max-wait-ms", args.max_wait_ms, 0)):
        if value < low:
            raise CLIError(f"{flag} must be >= {low}, got {value}")
    args.settings = IndexSettings(kind=args.index, hnsw_m=args.hnsw_m, ef_search=args.ef_search,
                                  ef_construction=args.ef_construction, nlist=args.nlist, nprobe=args.nprobe)
    problems = args.settings.problems()
    if problems:
        raise CLIError("; ".join(problems))
    args.models = [args.model]
    check_model_path(args.model)
    check_quantize(args)
    if args.bank is None:
        from p7keras.training.run_dir import evaluation_defaults  # noqa: PLC0415

        defaults = evaluation_defaults(args.model)
        if defaults is None:
            raise CLIError("--bank is required: MODEL is not a run directory whose config.json names its data")
        args.bank = defaults["data"]
        args.seed = defaults["seed"] if args.seed is None else args.seed
        print(f"bank from {args.model}/config.json: {defaults['described']}")
    args.seed = DEFAULTS.seed if args.seed is None else args.seed
    from p7keras.data import load  # noqa: PLC0415

    bank_path = args.bank
    args.bank = load(args.bank)  # a missing or damaged bank is one line here, before Keras
    if args.texts is not None:
        from p7keras.data.formats import with_texts  # noqa: PLC0415

        args.bank = with_texts(args.bank, args.texts)
    if args.encoder is not None:
        from p7keras.data.text import load_encoder  # noqa: PLC0415

        args.encoder = load_encoder(args.encoder)
    args.index_dir = None
    if args.index != "flat" and isinstance(bank_path, str):
        args.index_dir = args.index_folder or default_index_dir(bank_path)
        check_writable(os.path.join(args.index_dir, "probe.faiss"), overwrite=True)
    _check_port(args.host, args.port)


def _graceful_server(uvicorn, config):
    """A uvicorn server whose SIGTERM or Ctrl-C ends the process with 0 once in-flight requests are answered.

    uvicorn answers them too, then raises the signal again (exit -15, or 130 here); a stop that was asked
    for is this command's normal end, so the signal is not raised again.
    """

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self):
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    return Server(config)


def run(args: argparse.Namespace) -> int:
    """Checks everything, loads the model and the bank index, then serves until SIGTERM or Ctrl-C."""
    _check(args)
    from p7keras.console import import_keras_quietly  # noqa: PLC0415

    import_keras_quietly()
    import uvicorn  # noqa: PLC0415

    from p7keras.serve import ServiceLimits, create_app, load_service  # noqa: PLC0415

    limits = ServiceLimits(max_top_k=args.top_k_limit, max_sequences=args.max_sequences, max_batch=args.max_batch,
                           max_wait_ms=args.max_wait_ms)
    service, lines = load_service(args.model, args.bank, split=args.split, seed=args.seed, settings=args.settings,
                                  index_dir=args.index_dir, encoder=args.encoder, limits=limits,
                                  quantize=args.quantize, compile_single=args.compile_single)
    for line in lines:
        print(line, flush=True)
    app = create_app(service, max_body_bytes=int(args.max_body_mb * 2**20))
    print(f"serving on http://{args.host}:{args.port}/ (the page; API docs at /docs; Ctrl-C or SIGTERM stops, "
          "answering the requests in flight first)", flush=True)
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level=args.log_level,
                            timeout_graceful_shutdown=GRACEFUL_SECONDS, access_log=args.log_level == "info")
    server = _graceful_server(uvicorn, config)
    server.run()
    if not server.started:
        raise CLIError(f"{args.host}:{args.port}: the server did not start (see the line above)")
    print("stopped", flush=True)
    return 0


def register(subparsers) -> None:
    """Add the ``serve`` subcommand to the ``p7keras`` parser."""
    parser = subparsers.add_parser(
        "serve",
        help="serve a trained model over HTTP: predictions and its top-k next chunks of a bank, with a page",
        description="Loads MODEL and the bank (every chunk of --split of the corpus), builds the bank's index "
        "(FAISS: exact by default; --index hnsw or ivf for large banks, saved beside the corpus and reused "
        "while the bank is unchanged, its recall@10 against exact search printed at start) and serves: POST "
        "/v1/predict (contexts -> predictions), POST /v1/next (contexts, an article and position of the bank, "
        "or a passage with --encoder -> the model's and DIRECT's top-k chunks), GET /healthz, /readyz, "
        "/metrics (Prometheus), /docs (OpenAPI), and a page at /. Concurrent requests are micro-batched.",
    )
    parser.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    parser.add_argument("--bank", default=None, metavar="CORPUS",
                        help="chunk corpus (.npz or shard folder) whose chunks are the bank (default: the run's data)")
    parser.add_argument("--split", choices=SPLIT_CHOICES, default="all",
                        help="the split whose chunks are the bank (default all: every chunk)")
    parser.add_argument("--seed", type=int, default=None, help="split seed (default: the run's)")
    parser.add_argument("--texts", default=None, metavar="FILE",
                        help="the chunks' texts for a corpus without them: a JSON list (.json or .json.gz)")
    parser.add_argument("--encoder", default=None, metavar="MODULE:FN",
                        help="the corpus's encoder, to answer passages (module:callable, file.py:callable or a "
                        "local sentence-transformers folder)")
    net = parser.add_argument_group("network")
    net.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    net.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    net.add_argument("--log-level", choices=("warning", "info", "error"), default="warning",
                     help="uvicorn's log level (info adds one access line per request)")
    index = parser.add_argument_group("bank index")
    index.add_argument("--index", choices=("flat", "hnsw", "ivf"), default="flat",
                       help="flat: exact inner product (default); hnsw or ivf: approximate, for large banks")
    index.add_argument("--index-folder", default=None, metavar="DIR",
                       help="where an approximate index is saved and reused (default: CORPUS.p7index beside it)")
    index.add_argument("--hnsw-m", type=int, default=32, help="HNSW links per node (default 32)")
    index.add_argument("--ef-construction", type=int, default=200, help="HNSW build candidates (default 200)")
    index.add_argument("--ef-search", type=int, default=128, help="HNSW search candidates (default 128)")
    index.add_argument("--nlist", type=int, default=None, help="IVF cells (default about 4 sqrt(bank rows))")
    index.add_argument("--nprobe", type=int, default=32, help="IVF cells searched per query (default 32)")
    limits = parser.add_argument_group("limits and batching")
    limits.add_argument("--max-wait-ms", type=float, default=2.0,
                        help="longest a request waits for others to batch with (default 2 ms)")
    limits.add_argument("--max-batch", type=int, default=64, help="most sequences in one batched call (default 64)")
    limits.add_argument("--max-sequences", type=int, default=1024, help="most sequences per request (default 1024)")
    limits.add_argument("--top-k-limit", type=int, default=100, help="largest top_k a request may ask (default 100)")
    limits.add_argument("--max-body-mb", type=float, default=8.0, help="largest request body in MiB (default 8)")
    add_quantize_argument(parser)
    parser.add_argument("--compile-single", action="store_true",
                        help="predict a one-sequence request through a call compiled for it (PyTorch: torch.compile;"
                        " TensorFlow: XLA, float32 models; compiled at start, before /readyz) for lower latency")
    add_backend_argument(parser)
    parser.set_defaults(func=run, uses_keras=False)  # it imports Keras itself, once everything is checked
