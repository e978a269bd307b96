"""Training runs: ``TrainConfig`` (every setting and its checks) and ``train`` (one run end to end)."""

from p7keras.training.config import TrainConfig
from p7keras.training.train import RunResult, train

__all__ = ["RunResult", "TrainConfig", "train"]
