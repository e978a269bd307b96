"""The service's Prometheus metrics (``GET /metrics``): requests, latency, batch sizes, errors.

Each service has its own registry (two apps in one process, as in tests, never share counters).

Example:

    metrics = ServiceMetrics()
    metrics.observe_request("/v1/next", 200, 0.004)
    metrics.exposition()      # bytes of Prometheus text format
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class ServiceMetrics:
    """Counters and histograms of one service.

    Attributes:
        registry: the service's own ``CollectorRegistry``.
    """

    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter("p7keras_requests", "HTTP requests answered, by path and status code",
                                ("path", "status"), registry=self.registry)
        self.latency = Histogram("p7keras_request_latency_seconds", "Time to answer a request, by path",
                                 ("path",), buckets=LATENCY_BUCKETS, registry=self.registry)
        self.errors = Counter("p7keras_errors", "Requests answered with an error, by path and kind",
                              ("path", "kind"), registry=self.registry)
        self.batch_rows = Histogram("p7keras_batch_rows", "Rows (sequences or queries) per batched call",
                                    ("stage",), buckets=BATCH_BUCKETS, registry=self.registry)
        self.batch_requests = Histogram("p7keras_batch_requests", "Requests gathered into one batched call",
                                        ("stage",), buckets=BATCH_BUCKETS, registry=self.registry)

    def observe_request(self, path: str, status: int, seconds: float) -> None:
        """Count one answered request and its latency."""
        self.requests.labels(path, str(status)).inc()
        self.latency.labels(path).observe(seconds)

    def observe_error(self, path: str, kind: str) -> None:
        """Count one error answer (``kind``: a short name such as ``bad_request`` or ``internal``)."""
        self.errors.labels(path, kind).inc()

    def batch_observer(self, stage: str):
        """A :class:`p7keras.serve.batching.MicroBatcher` ``observe`` callback for ``stage``."""
        rows, requests = self.batch_rows.labels(stage), self.batch_requests.labels(stage)

        def observe(batch_rows: int, batch_requests: int) -> None:
            rows.observe(batch_rows)
            requests.observe(batch_requests)

        return observe

    def exposition(self) -> bytes:
        """The metrics in Prometheus text format."""
        return generate_latest(self.registry)
