"""The HTTP API of ``p7keras serve`` (FastAPI): JSON in, JSON out, an OpenAPI schema at ``/openapi.json``.

Routes: ``POST /v1/predict``, ``POST /v1/next``, ``GET /v1/info``, ``GET /v1/articles``, ``GET /healthz``
(alive), ``GET /readyz`` (model and index loaded), ``GET /metrics`` (Prometheus), ``GET /`` (the page).

Every bad request gets a 4xx and ``{"error": "<one line>"}``: a body that is not JSON (400), larger than
the limit (413), of the wrong shape or holding NaN/inf (422), an unknown article (404). An error inside the
service is a 500 with one line, and the service goes on answering.

Example:

    app = create_app(service)                  # a p7keras.serve.NextService
    uvicorn.run(app, host="127.0.0.1", port=8000)
"""

from __future__ import annotations

import time
from contextlib import asynccontextmanager
from importlib import resources

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field, ValidationError
from pydantic_core import to_json
from starlette.exceptions import HTTPException as StarletteHTTPException

from p7keras.serve.batching import BatcherStopped
from p7keras.serve.metrics import CONTENT_TYPE
from p7keras.serve.service import NextQuery, NextService, RequestProblem

MAX_BODY_BYTES = 8 * 1024 * 1024
ROUTES = ("/", "/healthz", "/readyz", "/metrics", "/v1/info", "/v1/articles", "/v1/predict", "/v1/next")

Contexts = list[list[list[float]]] | list[list[float]]


class PredictRequest(BaseModel):
    """``POST /v1/predict``: contexts ``(B, K, D)`` (or one ``(K, D)``)."""

    contexts: Contexts = Field(description="(B, K, D) context vectors, oldest chunk first; (K, D) for one")


class PredictResponse(BaseModel):
    model: str
    predictions: list[list[float]]


class NextRequest(BaseModel):
    """``POST /v1/next``: exactly one of ``contexts``, ``article`` with ``position``, or ``passage``."""

    contexts: Contexts | None = Field(None, description="(B, K, D) context vectors, or one (K, D)")
    article: str | None = Field(None, description="an article of the bank (name or id)")
    position: int | None = Field(None, description="the position of the chunk to predict in the article")
    passage: str | None = Field(None, description="a text whose last K chunks are the context (needs --encoder)")
    top_k: int = Field(10, description="bank chunks per query")
    direct: bool = Field(False, description="also DIRECT's top-k (the last context vector as the query)")
    exclude_context: bool = Field(True, description="leave the context's chunks out (else mark them)")


class BodyTooLarge(StarletteHTTPException):
    """A request body past the service's limit (413)."""

    def __init__(self, limit: int):
        super().__init__(413, f"the body is larger than {limit} bytes, this service's limit")


class BodyLimit:
    """ASGI middleware: a body whose Content-Length, or whose bytes as they arrive, pass ``max_bytes`` get 413.

    Args:
        app: the ASGI app.
        max_bytes: the largest body accepted.
    """

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = int(max_bytes)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        received = 0

        async def counted():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        return await self.app(scope, counted, send)


def _problem(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _validation_line(errors: list, skip: int = 0) -> tuple[int, str]:
    """One line (and status) for a body that did not parse or validate (pydantic's ``errors()``)."""
    first = errors[0] if errors else {}
    if first.get("type") == "json_invalid":
        return 400, f"the body is not valid JSON ({first.get('ctx', {}).get('error', 'cannot parse')})"
    where = ".".join(str(part) for part in first.get("loc", ())[skip : skip + 3]) or "body"
    return 422, f"{where}: {first.get('msg', 'invalid')}"


def _json(payload) -> Response:
    """A JSON response serialised by pydantic-core (Rust): ~10x faster than FastAPI's encoder for vectors."""
    return Response(to_json(payload), media_type="application/json")


async def _parsed(request: Request, model: type[BaseModel]) -> BaseModel:
    """The body validated as ``model`` straight from its bytes (pydantic's JSON parser: the Python ``json``
    module takes ~700 us for one (5, 384) context, this ~100 us); a 400 or 422 :class:`RequestProblem`."""
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as error:
        raise RequestProblem(*_validation_line(error.errors())) from None


def _body_schema(model: type[BaseModel]) -> dict:
    """The OpenAPI request body of a route that reads its body itself."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": model.model_json_schema()}}}}


def create_app(service: NextService, max_body_bytes: int = MAX_BODY_BYTES) -> FastAPI:
    """The FastAPI app serving ``service`` (started and stopped with the app's lifespan).

    Args:
        service: the :class:`p7keras.serve.NextService`.
        max_body_bytes: the largest request body accepted (413 beyond it).

    Returns:
        A FastAPI app.
    """
    metrics = service.metrics

    @asynccontextmanager
    async def lifespan(_app):
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(title="p7keras serve", version="1", lifespan=lifespan,
                  description="Next-chunk predictions of a P7 ranker over a bank of chunks.")

    @app.middleware("http")
    async def limits_and_metrics(request: Request, call_next):
        start = time.perf_counter()
        path = request.url.path if request.url.path in ROUTES else "other"
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > max_body_bytes):
            response = _problem(413, f"the body is {length} bytes; this service takes at most {max_body_bytes}")
        else:
            response = await call_next(request)
        if response.status_code >= 400:
            metrics.observe_error(path, "client" if response.status_code < 500 else "server")
        metrics.observe_request(path, response.status_code, time.perf_counter() - start)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, error: RequestValidationError):
        return _problem(*_validation_line(error.errors(), skip=1))

    @app.exception_handler(StarletteHTTPException)
    async def http_problem(_request: Request, error: StarletteHTTPException):
        return _problem(error.status_code, str(error.detail))

    @app.exception_handler(RequestProblem)
    async def problem(_request: Request, error: RequestProblem):
        return _problem(error.status, str(error))

    @app.exception_handler(BatcherStopped)
    async def stopping(_request: Request, error: BatcherStopped):
        return _problem(503, f"the service is shutting down ({error})")

    @app.exception_handler(Exception)
    async def internal(_request: Request, error: Exception):
        return _problem(500, f"internal error: {type(error).__name__}: {error}")

    @app.get("/healthz")
    async def healthz() -> dict:
        """Alive."""
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz():
        """Model and bank index loaded, batchers running."""
        if not service.ready:
            return _problem(503, "not ready: the model or the bank index is still loading")
        return {"status": "ready", "model": service.predictor.name, "bank_rows": service.index.size}

    @app.get("/metrics")
    async def prometheus() -> Response:
        """Prometheus text: requests, latency histogram, batch sizes, errors."""
        return Response(metrics.exposition(), media_type=CONTENT_TYPE)

    @app.get("/v1/info")
    async def info() -> dict:
        """The model, the bank, the index and the request limits."""
        return service.info()

    @app.get("/v1/articles")
    async def articles(offset: int = Query(0, ge=0), limit: int = Query(1000, ge=1, le=100_000)) -> dict:
        """Articles of the bank with the positions /v1/next accepts."""
        return service.articles(offset, limit)

    @app.post("/v1/predict", response_model=PredictResponse, openapi_extra=_body_schema(PredictRequest))
    async def predict(request: Request) -> Response:
        """Contexts (B, K, D) to predictions (B, D)."""
        body = await _parsed(request, PredictRequest)
        predictions = await service.predict(body.contexts)
        return _json({"model": service.predictor.name, "predictions": predictions.tolist()})

    @app.post("/v1/next", openapi_extra=_body_schema(NextRequest))
    async def next_chunks(request: Request) -> Response:
        """The model's top-k bank chunks (and DIRECT's) with cosines and texts."""
        body = await _parsed(request, NextRequest)
        return _json(await service.next(NextQuery(
            contexts=body.contexts, article=body.article, position=body.position, passage=body.passage,
            top_k=body.top_k, direct=body.direct, exclude_context=body.exclude_context)))

    @app.get("/", response_class=HTMLResponse)
    async def page() -> str:
        """The page to explore the service."""
        return resources.files("p7keras.serve").joinpath("page.html").read_text(encoding="utf-8")

    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.state.service = service
    return app
