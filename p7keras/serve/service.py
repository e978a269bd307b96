"""The next-chunk service without HTTP: a predictor, a bank and its index, behind two micro-batchers.

``predict`` runs the model on contexts; ``next`` predicts and looks the prediction (and DIRECT's query,
the last context vector, when asked) up in the bank index, returning examples shaped as
``p7keras predict --json`` writes them. Both gather concurrent requests into one call
(:class:`p7keras.serve.batching.MicroBatcher`): one for the model, one for the index search.
A request that cannot be answered raises :class:`RequestProblem` with its HTTP status and one line.

Example:

    service = NextService(load_predictor("run_dir"), load_sequences("corpus.npz", 5), BankIndex.build(bank))
    await service.start()
    await service.next(NextQuery(article="book/ch04.md", position=12, top_k=10, direct=True))
    await service.stop()
"""

from __future__ import annotations

import asyncio
import dataclasses

import numpy as np

from p7keras.data import SequenceSet
from p7keras.data.text import Encoder, embed_passage
from p7keras.evaluation.bank_index import BankIndex
from p7keras.evaluation.baselines import DIRECT
from p7keras.evaluation.examples import find_sequence, hit_lists, passage_context, target_ranks
from p7keras.evaluation.predictors import Predictor
from p7keras.serve.batching import MicroBatcher
from p7keras.serve.metrics import ServiceMetrics

MAX_TOP_K = 100
MAX_SEQUENCES = 1024  # sequences in one request
MAX_BATCH = 64  # sequences (or queries) in one batched call
MAX_WAIT_MS = 2.0


class RequestProblem(ValueError):
    """A request the service cannot answer: ``status`` (4xx) and one line naming the problem."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = int(status)


@dataclasses.dataclass
class NextQuery:
    """One ``/v1/next`` request: exactly one of ``contexts``, ``article`` with ``position``, or ``passage``.

    Attributes:
        contexts: ``(B, K, D)`` context vectors.
        article: an article of the bank (name or id) ...
        position: ... and the position of the chunk to predict in it.
        passage: a text whose last K chunks are the context (needs the service's encoder).
        top_k: bank chunks per query.
        direct: also DIRECT's top-k.
        exclude_context: leave the context's chunks out of the lists (else mark them).
    """

    contexts: np.ndarray | None = None
    article: str | None = None
    position: int | None = None
    passage: str | None = None
    top_k: int = 10
    direct: bool = False
    exclude_context: bool = True


@dataclasses.dataclass(frozen=True)
class ServiceLimits:
    """Request limits and batching settings."""

    max_top_k: int = MAX_TOP_K
    max_sequences: int = MAX_SEQUENCES
    max_batch: int = MAX_BATCH
    max_wait_ms: float = MAX_WAIT_MS


class NextService:
    """A trained ranker over a bank: predictions and next-chunk lists for concurrent requests.

    Args:
        predictor: the model (:class:`p7keras.evaluation.Predictor`).
        sequences: the bank's split (bank rows, texts, articles, the sequences ``article``/``position``
            name).
        index: the bank's index.
        encoder: turns passages into vectors (the corpus's encoder), or ``None``.
        limits: request limits and batching.
        metrics: where batch sizes are counted (default: new metrics).
        details: extra facts for ``/v1/info`` (index recall, where it came from).
    """

    def __init__(self, predictor: Predictor, sequences: SequenceSet, index: BankIndex,
                 encoder: Encoder | None = None, limits: ServiceLimits | None = None,
                 metrics: ServiceMetrics | None = None, details: dict | None = None):
        self.predictor = predictor
        self.sequences = sequences
        self.index = index
        self.encoder = encoder
        self.limits = limits or ServiceLimits()
        self.metrics = metrics or ServiceMetrics()
        self.details = dict(details or {})
        self.ready = False
        self._predict = MicroBatcher(self._predict_batch, self.limits.max_wait_ms, self.limits.max_batch, len,
                                     "predict-batcher", self.metrics.batch_observer("predict"))
        self._search = MicroBatcher(self._search_batch, self.limits.max_wait_ms, self.limits.max_batch,
                                    lambda payload: len(payload[0]), "search-batcher",
                                    self.metrics.batch_observer("search"))

    @property
    def context_length(self) -> int:
        return self.sequences.context_length

    @property
    def dim(self) -> int:
        return self.sequences.dim

    # ----------------------------------------------------------------------------- life
    async def start(self) -> None:
        """Start the batchers and warm the model up before the service is ready: one call of each power-of-two
        batch size up to the one that holds ``max_batch`` sequences (the buckets JAX, an int8 model on
        TensorFlow and ``compile_single`` compile for; a call costs milliseconds elsewhere)."""
        await self._predict.start()
        await self._search.start()
        rows = self.sequences.context_rows
        sizes = [1 << i for i in range((max(self.limits.max_batch, 1) - 1).bit_length() + 1)]
        warm = np.asarray(self.sequences.bank[rows[np.arange(sizes[-1]) % len(rows)]], dtype=np.float32)
        for size in sizes:
            await asyncio.to_thread(self.predictor.predict, warm[:size])
        self.ready = True

    async def stop(self) -> None:
        """Answer what was submitted, then stop."""
        self.ready = False
        await self._predict.stop()
        await self._search.stop()

    # --------------------------------------------------------------------------- batches
    def _predict_batch(self, payloads: list[np.ndarray]) -> list[np.ndarray]:
        predictions = self.predictor.predict(np.concatenate(payloads) if len(payloads) > 1 else payloads[0])
        return np.split(predictions, np.cumsum([len(p) for p in payloads])[:-1])

    def _search_batch(self, payloads: list[tuple[np.ndarray, int]]) -> list[tuple[np.ndarray, np.ndarray]]:
        queries = np.concatenate([q for q, _ in payloads]) if len(payloads) > 1 else payloads[0][0]
        rows, scores = self.index.search(queries, max(k for _, k in payloads))
        splits = np.cumsum([len(q) for q, _ in payloads])[:-1]
        return [(r[:, :k], s[:, :k]) for (_, k), r, s in zip(payloads, np.split(rows, splits), np.split(scores, splits))]

    # ------------------------------------------------------------------------------ checks
    def check_contexts(self, contexts) -> np.ndarray:
        """``contexts`` as ``(B, K, D)`` float32, or a :class:`RequestProblem` naming what is wrong."""
        try:
            array = np.asarray(contexts, dtype=np.float32)
        except (ValueError, TypeError) as error:
            raise RequestProblem(422, f"contexts must be a (B, K, D) array of numbers: {error}") from None
        k, d = self.context_length, self.dim
        if array.ndim == 2:
            array = array[None]
        if array.ndim != 3 or array.shape[1:] != (k, d):
            raise RequestProblem(422, f"contexts must have shape (B, {k}, {d}) (K = {k} chunks of D = {d}) for this "
                                      f"model; got shape {array.shape}")
        if not 1 <= len(array) <= self.limits.max_sequences:
            raise RequestProblem(422 if len(array) == 0 else 413,
                                 f"a request holds 1 to {self.limits.max_sequences} sequences; got {len(array)}")
        bad = ~np.isfinite(array).all(axis=(1, 2))
        if bad.any():
            raise RequestProblem(422, f"contexts hold NaN or inf (first in sequence {int(np.argmax(bad))})")
        zero = ~(array != 0).any(axis=2)
        if zero.any():
            sequence, chunk = np.argwhere(zero)[0]
            raise RequestProblem(422, f"context vector {int(chunk)} of sequence {int(sequence)} is zero")
        return array

    def _check_top_k(self, top_k: int) -> int:
        if not 1 <= int(top_k) <= self.limits.max_top_k:
            raise RequestProblem(422, f"top_k must be 1 to {self.limits.max_top_k}; got {top_k}")
        return int(top_k)

    # ------------------------------------------------------------------------------ answers
    async def predict(self, contexts) -> np.ndarray:
        """The model's predictions ``(B, D)`` for ``contexts (B, K, D)`` (checked first)."""
        ticket = self._predict.announce()
        try:
            return await self._predict.submit(self.check_contexts(contexts), ticket)
        finally:
            ticket.release()

    async def _resolve(self, query: NextQuery) -> tuple[np.ndarray, dict]:
        """The query's contexts and what is known of them (rows, the next chunk, the passage's chunks)."""
        given = [name for name, value in (("contexts", query.contexts), ("article", query.article),
                                          ("passage", query.passage)) if value is not None]
        if len(given) != 1:
            raise RequestProblem(422, "give exactly one of contexts, article (with position) or passage; got "
                                      f"{' and '.join(given) if given else 'none'}")
        if query.contexts is not None:
            contexts = self.check_contexts(query.contexts)
            return contexts, {"context_vectors": contexts}
        if query.article is not None:
            if query.position is None:
                raise RequestProblem(422, "an article needs the position of the chunk to predict")
            try:
                sequence = find_sequence(self.sequences, str(query.article), int(query.position))
            except ValueError as error:
                status = 404 if "no article" in str(error) else 422
                raise RequestProblem(status, str(error)) from None
            rows = self.sequences.context_rows[sequence : sequence + 1]
            contexts = np.asarray(self.sequences.bank[rows], dtype=np.float32)
            return contexts, {"sequence": sequence, "context_rows": rows,
                              "target_rows": self.sequences.target_rows[sequence : sequence + 1]}
        if self.encoder is None:
            raise RequestProblem(422, "this service has no encoder for passages (start it with --encoder, the "
                                      "encoder of the bank's vectors); send contexts as vectors instead")
        try:
            chunks, vectors = await asyncio.to_thread(embed_passage, query.passage, self.encoder)
        except ValueError as error:
            raise RequestProblem(422, f"passage: {error}") from None
        k = self.context_length
        if len(chunks) < k or vectors.shape[1] != self.dim:
            raise RequestProblem(422, f"the passage makes {len(chunks)} chunks of D = {vectors.shape[1]}; the model "
                                      f"reads K = {k} chunks of D = {self.dim}")
        contexts = vectors[None, -k:].astype(np.float32)
        return contexts, {"context_vectors": contexts, "passage_chunks": chunks[-k:],
                          "passage_start": len(chunks) - k}

    async def next(self, query: NextQuery) -> dict:
        """The model's (and DIRECT's) top-k bank chunks for each context of ``query``.

        Returns:
            ``{"model", "top_k", "exclude_context", "examples": [...]}``, each example shaped as in
            ``p7keras predict --json``: ``sequence``, ``article``, ``position``, ``context``, ``next`` and
            ``queries: {name: {"rank", "cosine_next", "top": [...]}}`` (``rank`` exact, in the whole bank,
            when the next chunk is known).

        Raises:
            RequestProblem: see :meth:`check_contexts`; an unknown article (404) or position, a passage
                without an encoder.
        """
        tickets = (self._predict.announce(), self._search.announce())
        try:
            return await self._next(query, *tickets)
        finally:
            for ticket in tickets:
                ticket.release()

    async def _next(self, query: NextQuery, predict_ticket, search_ticket) -> dict:
        top_k = self._check_top_k(query.top_k)
        contexts, known = await self._resolve(query)
        predictions = await self._predict.submit(contexts, predict_ticket)
        queries = {self.predictor.name: predictions}
        if query.direct:
            queries[DIRECT] = np.ascontiguousarray(contexts[:, -1])
        stacked = np.concatenate(list(queries.values()))
        rows, scores = await self._search.submit((stacked, top_k + self.context_length), search_ticket)
        n = len(contexts)
        target_rows, context_rows = known.get("target_rows"), known.get("context_rows")
        examples = [self._example(i, known) for i in range(n)]
        for place, (name, vectors) in enumerate(queries.items()):
            part = slice(place * n, (place + 1) * n)
            tops = hit_lists(self.sequences, vectors, rows[part], scores[part], top_k, target_rows, context_rows,
                             known.get("context_vectors"), query.exclude_context)
            ranks = cosines = None
            if target_rows is not None:
                ranks, cosines = await asyncio.to_thread(target_ranks, self.sequences, vectors, target_rows)
            for i, example in enumerate(examples):
                example["queries"][name] = {"rank": None if ranks is None else int(ranks[i]),
                                            "cosine_next": None if ranks is None else float(cosines[i]),
                                            "top": tops[i]}
        return {"model": self.predictor.name, "top_k": top_k, "exclude_context": bool(query.exclude_context),
                "examples": examples}

    def _example(self, i: int, known: dict) -> dict:
        if "sequence" in known:
            following = self.sequences.chunk(int(known["target_rows"][i]))
            return {"sequence": known["sequence"], "article": following["article"],
                    "position": following["position"],
                    "context": [self.sequences.chunk(row) for row in known["context_rows"][i]],
                    "next": following, "queries": {}}
        if "passage_chunks" in known:
            context = passage_context(known["passage_chunks"], known["passage_start"])
        else:
            context = None
        return {"sequence": None, "article": None, "position": None, "context": context, "next": None,
                "queries": {}}

    # ------------------------------------------------------------------------------ facts
    def info(self) -> dict:
        """What the service holds: model, bank, index, limits (``GET /v1/info``)."""
        sequences = self.sequences
        return {
            "model": {"name": self.predictor.name, "kind": self.predictor.kind, "source": str(self.predictor.source),
                      "context_length": self.context_length, "dim": self.dim},
            "bank": {"source": str(sequences.source), "split": sequences.split, "rows": len(sequences.bank),
                     "sequences": len(sequences), "articles": sequences.num_articles,
                     "texts": sequences.bank_texts is not None},
            "index": {"kind": self.index.settings.kind, **self.details},
            "encoder": self.encoder is not None,
            "limits": dataclasses.asdict(self.limits),
        }

    def articles(self, offset: int = 0, limit: int = 1000) -> dict:
        """Articles with sequences, each with the positions ``/v1/next`` accepts (``GET /v1/articles``)."""
        sequences = self.sequences
        if sequences.article_ids is None or sequences.bank_positions is None:
            return {"total": 0, "articles": []}
        positions = sequences.bank_positions[sequences.target_rows]
        order = np.argsort(sequences.article_ids, kind="stable")
        ids, starts = np.unique(sequences.article_ids[order], return_index=True)
        stops = np.append(starts[1:], len(order))
        names = sequences.article_names or {}
        chosen = range(max(0, int(offset)), min(len(ids), max(0, int(offset)) + max(0, int(limit))))
        listed = [{"id": int(ids[j]), "name": names.get(int(ids[j]), str(int(ids[j]))),
                   "first_position": int(positions[order[starts[j]:stops[j]]].min()),
                   "last_position": int(positions[order[starts[j]:stops[j]]].max())} for j in chosen]
        return {"total": int(len(ids)), "articles": listed}
