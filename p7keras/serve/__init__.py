"""``p7keras serve``: a trained ranker as an HTTP service over a bank of chunks.

* :mod:`p7keras.serve.service`: :class:`NextService` (predictions and next-chunk lists, micro-batched);
* :mod:`p7keras.serve.batching`: :class:`MicroBatcher`;
* :mod:`p7keras.serve.app`: the FastAPI app (:func:`create_app`) and the page;
* :mod:`p7keras.serve.loading`: :func:`load_service` (model, bank, index);
* the bank index itself is :mod:`p7keras.evaluation.bank_index` (``predict`` uses it too).

Example:

    from p7keras.serve import create_app, load_service
    service, lines = load_service("saved_models/p7_20260101-120000", "corpus.npz")
    uvicorn.run(create_app(service), host="127.0.0.1", port=8000)
"""

from p7keras.serve.app import create_app
from p7keras.serve.batching import MicroBatcher
from p7keras.serve.loading import load_service
from p7keras.serve.service import NextQuery, NextService, RequestProblem, ServiceLimits

__all__ = ["MicroBatcher", "NextQuery", "NextService", "RequestProblem", "ServiceLimits", "create_app",
           "load_service"]
