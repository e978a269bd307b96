"""The custom ``train_step``/``test_step`` of each backend, as the keras.io guides write them.

``BackendSteps`` is the mixin for the active backend (``KERAS_BACKEND``). Every step calls the
model's one ``compute_terms`` (shared forward pass + ``p7_combined_loss``) and ``_update_trackers``.
"""

import keras

_BACKEND = keras.backend.backend()

if _BACKEND == "tensorflow":
    from p7keras.models.steps.tensorflow import TensorFlowSteps as BackendSteps
elif _BACKEND == "jax":
    from p7keras.models.steps.jax import JAXSteps as BackendSteps
elif _BACKEND == "torch":
    from p7keras.models.steps.torch import TorchSteps as BackendSteps
else:
    raise ImportError(
        f"p7keras trains on the tensorflow, jax and torch backends; KERAS_BACKEND={_BACKEND!r}"
    )

__all__ = ["BackendSteps"]
