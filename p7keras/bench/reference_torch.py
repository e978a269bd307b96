"""A plain-PyTorch P7 training step: the prototype's side of ``p7keras bench --compare-prototype``.

It imports torch only (no Keras, no p7keras) and runs as its own process, so it never meets the Keras
backend of the process that starts it. It is written for this project after reading the prototype's
public training step (TrentCarter/lnsp-phase-4: ``app/lvm/train_p7_ranker.py``, ``models_p7_ranker.py``,
``losses_ranking.py``; no licence, so nothing is copied) and does the same work per step.

What it reproduces:

* the model: ``Linear(D→d_model)`` → a ``(K, d_model)`` position table → ``nn.TransformerEncoder`` of
  ``num_layers`` post-norm ``nn.TransformerEncoderLayer`` (``heads``, ``ff_dim``, dropout 0.1, ReLU,
  batch first) over all K positions in every layer → last position → ``Linear`` → ReLU → ``LayerNorm`` →
  ``Linear(d_model→D)`` → unit norm → blend with the unit context mean by λ = 0.6 + 0.3·sigmoid(θ),
  θ read as a Python float like the prototype (λ gets no gradient). At the bench sizes (D 768, K 5,
  d_model 512, 8 heads, 4 layers, ff 2048) these are p7keras's default ``TransformerP7Ranker`` shapes;
* the data: a per-sample ``Dataset`` (each item draws its M hard negatives among the data set's targets)
  through a ``DataLoader`` (batch B, shuffled, no workers), as the prototype loads batches;
* the negative pool: per sample the previous chunk ``c_K``, the M hard negatives and the other B−1
  targets, materialised as a ``(B, 1+M+B−1, D)`` tensor and scored with ``bmm``;
* the loss: InfoNCE (τ 0.07) + 0.5·prev-repel hinge (margin 0.07), each weighted by the directional gate,
  + 0.2·cosine-floor teacher pull (floor 0.2) while warm-up lasts (its first 2 epochs); the step reads
  its terms back (``.item()``) as a training loop that logs them does;
* the optimiser: ``torch.optim.AdamW`` (lr 5e-4, weight decay 1e-4), ``clip_grad_norm_`` 1.0, dropout
  on (``model.train()``), ``torch.set_num_threads(2)`` by default (this project's 2-core machine);
* the device: a CUDA GPU when torch sees one (``device="auto"``), as the prototype trains there, each batch
  moved to it after the ``DataLoader``; otherwise the CPU.

What it does not reproduce (none of it changes the work of a step measurably):

* the prototype's positions are a frozen table of zeros; here it is trained (same arithmetic);
* the prototype builds the in-batch pool with a Python loop over the B rows; here one gather builds the
  same tensor;
* the prototype's gate compares ``c_K`` with itself (Δ = cos(c_K, y) − 1, so every sequence is weak)
  and scales the batch-mean losses by the mean gate weight; here Δ = cos(c_K, y) − cos(c_1, y) (the
  spec's ``last-vs-first``) weights each sample, as p7keras does. Its duplicate masking, checkpoints,
  validation and file loading are left out; p7keras's "last position only" final layer is not used
  (that saving is p7keras's, not the prototype's).

The figure is sequences per second of the best of ``timed_epochs`` epochs of ``steps`` batches, after
one untimed epoch, on random unit data: the same protocol as :func:`p7keras.bench.train.measure_train`.

Example:

    $ python -m p7keras.bench.reference_torch --steps 20 --timed-epochs 2
    {"train_seq_per_s": 231.4, "epoch_seconds": [...], "epoch_losses": [...], ...}

    from p7keras.bench.reference_torch import ReferenceConfig, measure
    measure(ReferenceConfig(dim=32, d_model=32, num_layers=1, batch_size=8, steps=2))["train_seq_per_s"]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time

import torch
from torch import nn
from torch.nn import functional as F


@dataclasses.dataclass(frozen=True)
class ReferenceConfig:
    """Sizes and settings of the reference step (defaults: the bench configuration).

    Attributes:
        dim: D. context_length: K. d_model, heads, num_layers, ff_dim, dropout: the encoder.
        batch_size: B. hard_negatives: M. steps: batches per epoch. timed_epochs: epochs timed after
        one untimed epoch. warmup_epochs: epochs with the teacher term. threads: ``torch.set_num_threads``.
        seed: data and weight seed. device: ``"auto"`` (a CUDA GPU when torch sees one, else the CPU),
        ``"cpu"`` or ``"cuda"``.
    """

    dim: int = 768
    context_length: int = 5
    d_model: int = 512
    heads: int = 8
    num_layers: int = 4
    ff_dim: int = 2048
    dropout: float = 0.1
    batch_size: int = 64
    hard_negatives: int = 2
    steps: int = 20
    timed_epochs: int = 2
    warmup_epochs: int = 2
    threads: int = 2
    seed: int = 0
    device: str = "auto"


def resolve_device(device: str) -> torch.device:
    """The torch device of ``device`` (``"auto"``: ``cuda`` when torch sees a GPU, else ``cpu``).

    Example:

        resolve_device("auto")   # device(type='cpu') on a machine without a GPU

    Args:
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.

    Returns:
        The device.

    Raises:
        ValueError: for another name, or ``"cuda"`` where torch sees no GPU.
    """
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' asked for, but torch sees no CUDA GPU")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)


def device_name(device: torch.device) -> str:
    """``"cpu"``, or ``"cuda (NAME)"`` with the GPU's name, for the report."""
    return f"cuda ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "cpu"


class ReferenceRanker(nn.Module):
    """The prototype's transformer ranker in plain PyTorch: contexts ``(B, K, D)`` → unit ``(B, D)``.

    Example:

        model = ReferenceRanker(ReferenceConfig(dim=32, d_model=32, num_layers=1))
        model(torch.randn(4, 5, 32)).shape  # torch.Size([4, 32])

    Args:
        config: the sizes.

    Returns:
        An ``nn.Module``.
    """

    LAMBDA_MIN, LAMBDA_MAX, LAMBDA_START = 0.6, 0.9, 0.8

    def __init__(self, config: ReferenceConfig):
        super().__init__()
        self.project = nn.Linear(config.dim, config.d_model)
        self.positions = nn.Parameter(0.02 * torch.randn(config.context_length, config.d_model))
        layer = nn.TransformerEncoderLayer(config.d_model, config.heads, config.ff_dim, config.dropout,
                                           batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, config.num_layers, enable_nested_tensor=False)
        self.head = nn.Sequential(nn.Linear(config.d_model, config.d_model), nn.ReLU(),
                                  nn.LayerNorm(config.d_model), nn.Linear(config.d_model, config.dim))
        share = (self.LAMBDA_START - self.LAMBDA_MIN) / (self.LAMBDA_MAX - self.LAMBDA_MIN)
        self.lambda_logit = nn.Parameter(torch.tensor(math.log(share / (1 - share))))

    def anchor_lambda(self) -> float:
        """λ as a Python float (so, as in the prototype, it receives no gradient)."""
        return self.LAMBDA_MIN + (self.LAMBDA_MAX - self.LAMBDA_MIN) * torch.sigmoid(self.lambda_logit).item()

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        encoded = self.encoder(self.project(context) + self.positions)
        raw = F.normalize(self.head(encoded[:, -1]), dim=-1)
        anchor = F.normalize(context.mean(dim=1), dim=-1)
        lam = self.anchor_lambda()
        return F.normalize(lam * raw + (1.0 - lam) * anchor, dim=-1)


class _Sequences(torch.utils.data.Dataset):
    """One item per sequence: context, target, previous chunk and M random targets as hard negatives."""

    def __init__(self, contexts: torch.Tensor, targets: torch.Tensor, hard_negatives: int):
        self.contexts, self.targets, self.hard_negatives = contexts, targets, hard_negatives

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        context = self.contexts[i]
        picks = torch.randint(0, len(self.targets), (self.hard_negatives,))
        return {"context": context, "target": self.targets[i], "previous": context[-1],
                "hard_negatives": self.targets[picks]}


def negative_pool(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Each sample's negatives ``(B, 1 + M + B − 1, D)``: its previous chunk, hard negatives, the other targets.

    Args:
        batch: ``previous (B, D)``, ``hard_negatives (B, M, D)``, ``target (B, D)``.

    Returns:
        The materialised pool.
    """
    targets = batch["target"]
    b = len(targets)
    rows = torch.arange(b, device=targets.device)
    others = (rows[None, :] + 1 + rows[:, None]) % b  # row i: every j != i
    return torch.cat([batch["previous"][:, None], batch["hard_negatives"], targets[others[:, : b - 1]]], dim=1)


def step_loss(query: torch.Tensor, batch: dict[str, torch.Tensor], teacher_active: float) -> dict[str, torch.Tensor]:
    """The P7 loss of one batch (InfoNCE + prev-repel, gate-weighted, + teacher pull).

    Args:
        query: ``(B, D)`` unit predictions.
        batch: ``context``, ``target``, ``previous``, ``hard_negatives``.
        teacher_active: 1.0 during warm-up, else 0.0.

    Returns:
        ``{"loss", "loss_rank", "loss_margin", "loss_teacher"}`` scalar tensors.
    """
    target = F.normalize(batch["target"], dim=-1)
    previous = F.normalize(batch["previous"], dim=-1)
    negatives = F.normalize(negative_pool(batch), dim=-1)
    cos_next = (query * target).sum(-1)
    cos_prev = (query * previous).sum(-1)
    logits = torch.cat([cos_next[:, None], torch.bmm(negatives, query[:, :, None])[:, :, 0]], dim=1) / 0.07
    rank = torch.logsumexp(logits, dim=1) - logits[:, 0]
    margin = torch.clamp(0.07 - cos_next + cos_prev, min=0.0)
    with torch.no_grad():
        context = F.normalize(batch["context"], dim=-1)
        delta = (context[:, -1] * target).sum(-1) - (context[:, 0] * target).sum(-1)
        gate = torch.where(delta >= 0.03, 1.0, 0.25)
    violating = (cos_next < 0.2).float()
    teacher = (violating * (1.0 - cos_next)).sum() / violating.sum().clamp(min=1.0)
    loss_rank, loss_margin = (gate * rank).mean(), (gate * margin).mean()
    loss_teacher = teacher_active * teacher
    return {"loss": loss_rank + 0.5 * loss_margin + 0.2 * loss_teacher, "loss_rank": loss_rank,
            "loss_margin": loss_margin, "loss_teacher": loss_teacher}


def measure(config: ReferenceConfig | None = None) -> dict:
    """Train the reference on random unit data and time it (one untimed epoch, then ``timed_epochs``).

    Args:
        config: sizes and settings; default the bench configuration.

    Returns:
        ``{"train_seq_per_s"`` (best timed epoch), ``"epoch_seconds"``, ``"epoch_losses"`` (mean loss of
        every epoch, the untimed first included), ``"torch_version"``, ``"device"`` (``"cpu"`` or
        ``"cuda (NAME)"``), ``"configuration"}``.
    """
    config = config or ReferenceConfig()
    device = resolve_device(config.device)
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    n, k, d = config.batch_size * config.steps, config.context_length, config.dim
    contexts = F.normalize(torch.randn(n, k, d), dim=-1)
    targets = F.normalize(torch.randn(n, d), dim=-1)
    loader = torch.utils.data.DataLoader(_Sequences(contexts, targets, config.hard_negatives),
                                         batch_size=config.batch_size, shuffle=True, num_workers=0)
    model = ReferenceRanker(config).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=1e-4)
    model.train()
    seconds, losses = [], []
    for epoch in range(1 + config.timed_epochs):
        teacher_active = 1.0 if epoch < config.warmup_epochs else 0.0
        total = 0.0
        start = time.perf_counter()
        for batch in loader:
            batch = {name: value.to(device) for name, value in batch.items()}
            terms = step_loss(model(batch["context"]), batch, teacher_active)
            optimizer.zero_grad()
            terms["loss"].backward()
            nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
            optimizer.step()
            logged = {name: value.item() for name, value in terms.items()}
            total += logged["loss"]
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds.append(time.perf_counter() - start)
        losses.append(total / len(loader))
    return {
        "train_seq_per_s": n / min(seconds[1:]),
        "epoch_seconds": seconds,
        "epoch_losses": losses,
        "torch_version": torch.__version__,
        "device": device_name(device),
        "configuration": dataclasses.asdict(config),
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m p7keras.bench.reference_torch [--dim D ...]``: print :func:`measure`'s figures as JSON.

    Args:
        argv: the flags (default ``sys.argv[1:]``); one per field of :class:`ReferenceConfig`.

    Returns:
        The exit code, 0.
    """
    parser = argparse.ArgumentParser(prog="python -m p7keras.bench.reference_torch",
                                     description="Time the plain-PyTorch P7 reference step; print JSON.")
    for field in dataclasses.fields(ReferenceConfig):
        parser.add_argument(f"--{field.name.replace('_', '-')}", type=type(field.default), default=field.default)
    args = parser.parse_args(argv)
    print(json.dumps(measure(ReferenceConfig(**vars(args)))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
