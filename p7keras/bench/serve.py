"""Load test of ``p7keras serve``: p50/p99 latency and requests/s at several client counts, from asyncio clients.

Starts ``p7keras serve MODEL --bank CORPUS [serve flags]`` on a free port of 127.0.0.1, waits until it is
ready, then for each endpoint and client count runs that many clients for ``--seconds``, each on its own
keep-alive connection sending one request after another (a plain asyncio HTTP/1.1 client: a few
microseconds of the two machines' shared CPU per request). Bodies are real sequences of the bank
(``contexts`` of one sequence each). Every response is checked (status 200, a complete body); the
server's resident memory is sampled every second. Then SIGTERM, and the server must exit 0.

Example:

    $ python -m p7keras.bench.serve RUN --bank corpus.npz --clients 1 8 64 --seconds 20 --json load.json
    $ python -m p7keras.bench.serve RUN --bank big.npz --serve-args "--index hnsw" --endpoints next
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np

from p7keras.bench.shards import status_mib

ENDPOINTS = {"predict": "/v1/predict", "next": "/v1/next"}
READY_SECONDS = 120  # after 'serving on' (the index is built before it)
WARMUP_SECONDS = 2.0
DISTINCT_BODIES = 256
RSS_EVERY_SECONDS = 5.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _request(path: str, body: bytes, port: int) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


async def _one(reader, writer, request: bytes) -> int:
    """Send one request on a keep-alive connection; the response's status (its body read whole)."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return status


async def _client(port: int, requests: list[bytes], stop_at: float, record_from: float, seed: int,
                  latencies: list, counts: dict) -> None:
    rng = np.random.default_rng(seed)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < stop_at:
            request = requests[int(rng.integers(len(requests)))]
            start = time.perf_counter()
            counts["sent"] += start >= record_from
            try:
                status = await _one(reader, writer, request)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                counts["errors"] += 1
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                continue
            if start >= record_from:
                latencies.append(time.perf_counter() - start)
                counts["answered"] += 1
                counts["errors"] += status != 200
    finally:
        writer.close()


async def _run_level(port: int, requests: list[bytes], clients: int, seconds: float) -> dict:
    latencies: list[float] = []
    counts = {"sent": 0, "answered": 0, "errors": 0}
    start = time.perf_counter()
    record_from, stop_at = start + WARMUP_SECONDS, start + WARMUP_SECONDS + seconds
    await asyncio.gather(*(_client(port, requests, stop_at, record_from, i, latencies, counts)
                           for i in range(clients)))
    elapsed = time.perf_counter() - record_from
    ms = np.asarray(latencies) * 1000.0
    return {"clients": clients, "requests": counts["answered"], "sent": counts["sent"], "errors": counts["errors"],
            "lost": counts["sent"] - counts["answered"], "requests_per_s": counts["answered"] / elapsed,
            "p50_ms": float(np.percentile(ms, 50)) if len(ms) else None,
            "p99_ms": float(np.percentile(ms, 99)) if len(ms) else None}


def _vm_rss_mib(pid: int) -> float | None:
    return status_mib(pid, "VmRSS")


def _sample_rss(pid: int, samples: list, done: threading.Event, every: float = RSS_EVERY_SECONDS) -> None:
    """The server's RSS now and every ``every`` seconds until ``done``."""
    while True:
        samples.append(_vm_rss_mib(pid))
        if done.wait(every):
            return


def _bodies(bank: str, endpoint: str, top_k: int, k: int) -> list[bytes]:
    """JSON bodies of real sequences of the bank (one sequence each)."""
    from p7keras.data import load_sequences  # noqa: PLC0415

    sequences = load_sequences(bank, k)
    chosen = np.random.default_rng(0).choice(len(sequences), min(DISTINCT_BODIES, len(sequences)), replace=False)
    bodies = []
    for index in chosen:
        contexts = np.asarray(sequences.bank[sequences.context_rows[index : index + 1]], dtype=np.float32)
        body = {"contexts": np.round(contexts, 6).tolist()}
        if endpoint == "next":
            body["top_k"] = top_k
        bodies.append(json.dumps(body).encode())
    return bodies


def load_test(model: str, bank: str, clients=(1, 8, 64), seconds: float = 20.0, endpoints=("predict", "next"),
              top_k: int = 10, serve_args: str = "", python: str = sys.executable) -> dict:
    """Start the service, load it at each client count, stop it; the figures.

    Args:
        model: what ``p7keras serve`` serves.
        bank: the bank corpus (the request bodies are its sequences).
        clients: client counts.
        seconds: measured seconds per (endpoint, clients), after a 2 s warm-up.
        endpoints: ``predict`` and/or ``next``.
        top_k: ``/v1/next``'s top_k.
        serve_args: more ``p7keras serve`` flags (``"--index hnsw"``).
        python: the interpreter running the service.

    Returns:
        ``{"serve": [...], "startup_s", "startup_lines", "levels": [{endpoint, clients, requests, errors, lost,
        requests_per_s, p50_ms, p99_ms, rss_mib_start, rss_mib_end}], "exit_code"}``.
    """
    port = free_port()
    command = [python, "-m", "p7keras", "serve", model, "--bank", bank, "--port", str(port), *shlex.split(serve_args)]
    start = time.perf_counter()
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        while True:
            line = server.stdout.readline()
            if not line:
                raise RuntimeError(f"p7keras serve exited {server.wait()} before serving:\n" + "".join(lines))
            lines.append(line)
            if line.startswith("serving on"):
                break
        import httpx  # noqa: PLC0415

        info, ready_by = None, time.perf_counter() + READY_SECONDS
        while info is None and time.perf_counter() < ready_by:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    info = httpx.get(f"http://127.0.0.1:{port}/v1/info", timeout=5).json()
            except httpx.TransportError:
                time.sleep(0.2)
        startup = time.perf_counter() - start
        if info is None:
            raise RuntimeError(f"p7keras serve printed 'serving on' but was not ready within {READY_SECONDS} s")
        k = info["model"]["context_length"]
        levels = []
        for endpoint in endpoints:
            requests = [_request(ENDPOINTS[endpoint], body, port) for body in _bodies(bank, endpoint, top_k, k)]
            for count in clients:
                samples, done = [], threading.Event()
                sampler = threading.Thread(target=_sample_rss, args=(server.pid, samples, done), daemon=True)
                sampler.start()
                figures = asyncio.run(_run_level(port, requests, int(count), seconds))
                done.set()
                sampler.join()
                levels.append({"endpoint": ENDPOINTS[endpoint], **figures, "rss_mib_start": samples[0],
                               "rss_mib_end": _vm_rss_mib(server.pid), "rss_mib_max": max(samples),
                               "rss_mib_samples": samples})
                print(_format_level(levels[-1]), flush=True)
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
        try:
            tail = server.communicate(timeout=120)[0]
        except subprocess.TimeoutExpired:
            server.kill()
            tail = server.communicate()[0]
    return {"serve": command, "startup_s": startup, "startup_lines": [line.rstrip() for line in lines],
            "levels": levels, "exit_code": server.returncode, "server_tail": tail[-2000:]}


def _format_level(level: dict) -> str:
    return (f"{level['endpoint']:<12} clients {level['clients']:>3}: {level['requests_per_s']:8.1f} req/s   "
            f"p50 {level['p50_ms']:7.2f} ms   p99 {level['p99_ms']:7.2f} ms   errors {level['errors']}   "
            f"lost {level['lost']}   server RSS {level['rss_mib_start']:.0f} -> {level['rss_mib_end']:.0f} MiB "
            f"(max {level['rss_mib_max']:.0f})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m p7keras.bench.serve", description=__doc__.split("\n")[0])
    parser.add_argument("model")
    parser.add_argument("--bank", required=True)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--endpoints", nargs="+", choices=tuple(ENDPOINTS), default=["predict", "next"])
    parser.add_argument("--top-k", type=int, default=10)
    parser.add_argument("--serve-args", default="", help='more p7keras serve flags, quoted: "--index hnsw"')
    parser.add_argument("--json", default=None, help="write the figures here")
    args = parser.parse_args(argv)
    if args.json:
        from p7keras.io import check_writable  # noqa: PLC0415

        check_writable(args.json, overwrite=True)
    figures = load_test(args.model, args.bank, args.clients, args.seconds, args.endpoints, args.top_k,
                        args.serve_args)
    print(f"startup {figures['startup_s']:.1f} s; server exit code {figures['exit_code']}")
    for line in figures["startup_lines"]:
        print("  " + line)
    if args.json:
        from p7keras.io import write_json  # noqa: PLC0415

        write_json(args.json, figures)
    return 0 if figures["exit_code"] == 0 and all(level["errors"] == level["lost"] == 0
                                                  for level in figures["levels"]) else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
