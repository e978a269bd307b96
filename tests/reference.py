"""The spec's loss (sections 3-5) written out in numpy, independent of ``p7keras``, and a batch to check it on.

``tests/test_losses.py`` checks ``p7keras.losses.p7_combined_loss`` against :func:`reference_combined`;
``tests/models/test_ranker.py`` checks a model's own loss terms against it.

Example:

>>> batch = mixed_gate_batch(n=6, seed=3)
>>> terms = reference_combined(batch["target"], batch, 1.0, temperature=0.07, margin=0.07, w_rank=1.0,
...                            w_margin=0.5, w_teacher=0.2, floor_threshold=0.2, gate_threshold=0.03,
...                            gate_weak_weight=0.25)
>>> round(float(terms["gate_weight_mean"]), 3)  # rows 0 and 3 are weak: (4 + 2 * 0.25) / 6
0.75
"""

from __future__ import annotations

import numpy as np

from tests.helpers import rotation_batches, unit


def cos(a, b):
    return np.sum(unit(a) * unit(b), axis=-1)


def mixed_gate_batch(n: int, seed: int = 0) -> dict:
    """``rotation_batches`` whose every third sequence (rows 0, 3, ...) has its target as its oldest chunk c_1.

    Those sequences have ``Δ last-vs-first = cos(c_K, y) − 1 < 0`` (the weak gate weight) while the same Δ
    taken with c_2 stays far above the threshold, so the gate weights are not all 1 and a gate that
    compared the wrong chunk gives other weights.
    """
    batch = rotation_batches(n=n, seed=seed)
    batch["context"][::3, 0] = batch["target"][::3]
    return batch


def reference_combined(q, batch, teacher_active, context_negatives="prev", extra=None, extra_mask=None,
                       gate_mode="last-vs-first", **p):
    """Straight numpy transcription of spec sections 3-5 (and issue 11's pool options).

    Args:
        q: ``(B, D)`` predictions.
        batch: dict with ``context``, ``target`` and ``hard_negatives``.
        teacher_active: 1.0 during warm-up, else 0.0.
        context_negatives, extra, extra_mask: the pool options of ``p7_combined_loss``.
        gate_mode: ``"last-vs-first"`` or ``"next-vs-prev"``.
        **p: temperature, margin, w_rank, w_margin, w_teacher, floor_threshold, gate_threshold,
            gate_weak_weight.

    Returns:
        Dict of every term and metric ``p7_combined_loss`` returns, as numpy floats.
    """
    c, y, h = batch["context"], batch["target"], batch["hard_negatives"]
    q, y, prev = unit(q), unit(y), unit(c[:, -1])
    b = len(q)
    rank = np.zeros(b)
    shared = [] if extra is None else [unit(e) for e, keep in zip(extra, extra_mask) if keep]
    for i in range(b):
        own = {"prev": [prev[i]], "none": [], "older": list(unit(c[i][:-1])), "all": list(unit(c[i]))}[context_negatives]
        others = [n for n in shared if max(np.dot(unit(c[i]), n)) < 0.9999]  # the context's role is own's
        left_out = {"none": list(unit(c[i])), "older": [prev[i]]}.get(context_negatives, [])
        hard = [n for n in unit(h[i]) if all(np.dot(n, x) < 0.9999 for x in left_out)]
        pool = own + hard + [y[j] for j in range(b) if j != i] + others
        pool = [n for n in pool if np.dot(n, y[i]) < 0.9999]
        logits = np.array([np.dot(q[i], y[i])] + [np.dot(q[i], n) for n in pool]) / p["temperature"]
        rank[i] = -logits[0] + np.log(np.sum(np.exp(logits)))
    cn, cp = cos(q, y), cos(q, prev)
    margin = np.maximum(0, p["margin"] - cn + cp)
    compared = cos(c[:, 0], y) if gate_mode == "last-vs-first" else cos(c[:, -1], c[:, -2])
    delta = cos(c[:, -1], y) - compared
    w = np.where(delta >= p["gate_threshold"], 1.0, p["gate_weak_weight"])
    viol = cn < p["floor_threshold"]
    teacher = np.sum((1 - cn)[viol]) / max(1, viol.sum())
    total = np.mean(w * (p["w_rank"] * rank + p["w_margin"] * margin)) + teacher_active * p["w_teacher"] * teacher
    anchor = unit(c.mean(axis=1))
    return {
        "loss": total,
        "loss_rank": np.mean(w * rank),
        "loss_margin": np.mean(w * margin),
        "loss_teacher": teacher_active * teacher,
        "cos_next": cn.mean(),
        "cos_prev": cp.mean(),
        "margin": cn.mean() - cp.mean(),
        "cos_anchor": cos(q, anchor).mean(),
        "gate_weight_mean": w.mean(),
        "teacher_violations": float(viol.sum()),
    }
