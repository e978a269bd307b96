"""The P7 losses (spec section 4), written once in ``keras.ops`` for every backend.

All cosines are taken on unit vectors. Shapes: vectors ``(B, D)``, negatives ``(B, N, D)``,
contexts ``(B, K, D)`` with the oldest chunk first, so the previous chunk is ``context[:, -1]``.

Example:

>>> import numpy as np
>>> from p7keras import losses
>>> q = np.eye(3, dtype="float32")[:2]
>>> y = np.eye(3, dtype="float32")[:2]
>>> negs = np.stack([np.eye(3, dtype="float32")[2:]] * 2)
>>> loss = losses.info_nce_ranking_loss(q, y, negs)  # (2,) per-sample losses
"""

from __future__ import annotations

from keras import ops

from p7keras import ops as p7ops
from p7keras.config import CONTEXT_NEGATIVES, DEFAULTS, GATE_MODES

# Logit given to masked-out negatives: exp() of it underflows to exactly 0 in float32.
_MASKED_LOGIT = -1e9


def _masked_info_nce(positive_cos, negative_cos, negative_valid, temperature):
    """InfoNCE from cosines: ``-s+ + logsumexp([s+, s-_valid])`` with ``s = cos / τ``.

    Args:
        positive_cos: ``(B,)`` cosine of each query with its positive.
        negative_cos: ``(B, N)`` cosines with the negatives.
        negative_valid: ``(B, N)`` boolean, False for negatives left out of the softmax.
        temperature: τ.

    Returns:
        ``(B,)`` per-sample loss.
    """
    positive_logit = positive_cos / temperature
    negative_logits = ops.where(negative_valid, negative_cos / temperature, _MASKED_LOGIT)
    all_logits = ops.concatenate([positive_logit[:, None], negative_logits], axis=1)
    return ops.logsumexp(all_logits, axis=1) - positive_logit


def info_nce_ranking_loss(
    query,
    positive,
    negatives,
    temperature: float = DEFAULTS.temperature,
    negative_mask=None,
    duplicate_cosine: float = DEFAULTS.duplicate_cosine,
):
    """InfoNCE ranking loss: the query must score its positive above every negative.

    ``L = -s+ + logsumexp([s+, s-_1, ...])`` with ``s = cos(query, .) / temperature``. A negative whose
    cosine with the positive is ``>= duplicate_cosine`` (a duplicated chunk) is left out, as is any
    negative where ``negative_mask`` is False.

    Example:

        info_nce_ranking_loss(q, y, negs, temperature=0.07)

    Args:
        query: ``(B, D)`` predictions.
        positive: ``(B, D)`` true next chunks.
        negatives: ``(B, N, D)`` negative pool of each sample.
        temperature: softmax temperature τ (> 0).
        negative_mask: optional ``(B, N)`` boolean, True for negatives to keep.
        duplicate_cosine: negatives at least this close to the positive are masked.

    Returns:
        ``(B,)`` per-sample loss.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    query = p7ops.l2_normalize(query)
    positive = p7ops.l2_normalize(positive)
    negatives = p7ops.l2_normalize(negatives)
    positive_cos = ops.sum(query * positive, axis=-1)
    negative_cos = ops.einsum("bd,bnd->bn", query, negatives)
    valid = ops.einsum("bd,bnd->bn", positive, negatives) < duplicate_cosine
    if negative_mask is not None:
        valid = ops.logical_and(valid, ops.cast(negative_mask, "bool"))
    return _masked_info_nce(positive_cos, negative_cos, valid, temperature)


def prev_repel_margin_loss(query, positive, previous, margin: float = DEFAULTS.margin):
    """Prev-repel hinge: ``max(0, m - cos(q, y) + cos(q, p))``.

    Example:

        prev_repel_margin_loss(q, y, p, margin=0.07)

    Args:
        query: ``(B, D)`` predictions.
        positive: ``(B, D)`` true next chunks ``y``.
        previous: ``(B, D)`` previous chunks ``p = c_K``.
        margin: required lead ``m`` of the next chunk over the previous one.

    Returns:
        ``(B,)`` per-sample loss.
    """
    return ops.relu(margin - p7ops.cosine(query, positive) + p7ops.cosine(query, previous))


def semantic_anchor_blend(query_raw, context_vectors, lambda_blend=DEFAULTS.anchor_lambda):
    """Anchors a raw prediction to its context: ``normalize(λ·q + (1−λ)·centroid(C))``.

    Example:

        semantic_anchor_blend(q_raw, contexts, lambda_blend=0.8)

    Args:
        query_raw: ``(B, D)`` raw prediction.
        context_vectors: ``(B, K, D)`` context chunks.
        lambda_blend: λ in [0, 1], scalar or 0-d tensor.

    Returns:
        Unit ``(B, D)`` predictions.
    """
    return p7ops.blend(query_raw, p7ops.centroid(context_vectors), lambda_blend)


def directional_gate_delta(context, target_next, mode: str = DEFAULTS.gate_mode):
    """Forward signal Δ of each sequence (spec section 4).

    ``last-vs-first``: ``cos(c_K, y) − cos(c_1, y)``; ``next-vs-prev``: ``cos(c_K, y) − cos(c_K, c_{K−1})``.

    Args:
        context: ``(B, K, D)``.
        target_next: ``(B, D)``.
        mode: ``"last-vs-first"`` or ``"next-vs-prev"``.

    Returns:
        ``(B,)`` Δ values.
    """
    if mode not in GATE_MODES:
        raise ValueError(f"gate mode must be one of {GATE_MODES}, got {mode!r}")
    context = ops.convert_to_tensor(context)
    last = context[:, -1]
    cos_last_next = p7ops.cosine(last, target_next)
    if mode == "last-vs-first":
        return cos_last_next - p7ops.cosine(context[:, 0], target_next)
    return cos_last_next - p7ops.cosine(last, context[:, -2])


def directional_gate_weights(
    context,
    target_next,
    threshold: float = DEFAULTS.gate_threshold,
    weak_weight: float = DEFAULTS.gate_weak_weight,
    mode: str = DEFAULTS.gate_mode,
):
    """Per-sample weight: 1 where the forward signal Δ ≥ threshold, else ``weak_weight``.

    Example:

        directional_gate_weights(contexts, targets, threshold=0.03, weak_weight=0.25)

    Args:
        context: ``(B, K, D)`` context chunks, oldest first.
        target_next: ``(B, D)`` next chunks.
        threshold: Δ needed for full weight.
        weak_weight: weight of sequences below the threshold.
        mode: ``"last-vs-first"`` (default) or ``"next-vs-prev"``.

    Returns:
        ``(B,)`` weights (no gradient flows through them).
    """
    delta = ops.stop_gradient(directional_gate_delta(context, target_next, mode))
    return ops.where(delta >= threshold, 1.0, weak_weight)


def cosine_floor_teacher_loss(query, target, floor_threshold: float = DEFAULTS.floor_threshold, replicas=None):
    """Teacher pull for predictions that fall below a cosine floor.

    A sample violates when ``cos(q, y) < floor``; ``L = Σ_viol (1 − cos(q, y)) / max(1, #viol)``.

    Example:

        loss, n = cosine_floor_teacher_loss(q, y, floor_threshold=0.2)

    Args:
        query: ``(B, D)`` predictions.
        target: ``(B, D)`` true next chunks.
        floor_threshold: the cosine floor.
        replicas: ``(sum over replicas, replica count)`` when an engine split the batch across replicas:
            the count is the global batch's, and the loss is scaled so that the replicas' losses, each
            divided by the count and summed (as their gradients are), give the global batch's loss.

    Returns:
        ``(loss, n_violations)``: scalar loss and the number of violating samples (float).
    """
    cos_next = p7ops.cosine(query, target)
    violating = ops.cast(cos_next < floor_threshold, cos_next.dtype)
    n_violations = ops.sum(violating)
    scale = 1.0
    if replicas is not None:
        replica_sum, count = replicas
        n_violations, scale = replica_sum(n_violations), float(count)
    loss = scale * ops.sum(violating * (1.0 - cos_next)) / ops.maximum(n_violations, 1.0)
    return loss, n_violations


def _context_pool(query, target, context, previous, cos_prev, context_negatives):
    """The context chunks' columns of the negative pool: ``(cosines with the query, cosines with the target)``.

    ``prev``: the previous chunk ``c_K`` (spec section 3); ``all``: the K context chunks; ``older``: the
    K−1 chunks before ``c_K``; ``none``: none.
    """
    if context_negatives == "prev":
        return [cos_prev[:, None]], [ops.sum(target * previous, axis=-1)[:, None]]
    if context_negatives in ("all", "older"):
        context = p7ops.l2_normalize(context if context_negatives == "all" else context[:, :-1])
        return [ops.einsum("bd,bkd->bk", query, context)], [ops.einsum("bd,bkd->bk", target, context)]
    return [], []


def _left_out_context(context, context_negatives):
    """The context chunks that must not enter the pool through another door (hard negatives): ``(B, J, D)``.

    ``none`` leaves every context chunk out, ``older`` the previous chunk ``c_K``; ``prev`` and ``all``
    (the spec's pool and its superset) leave nothing out, so the spec's hard negatives are unchanged.
    """
    if context_negatives == "none":
        return p7ops.l2_normalize(context)
    if context_negatives == "older":
        return p7ops.l2_normalize(context[:, -1:])
    return None


def _shared_pool(query, target, context, extra_negatives, extra_negative_mask, duplicate_cosine):
    """Negatives shared by every sample (a queue, a bank): cosines ``(B, N)`` and which count ``(B, N)``.

    A row counts unless ``extra_negative_mask`` leaves it out, it equals the positive (the duplicate
    rule) or it equals one of the sample's context chunks (their role is ``context_negatives``'s).
    """
    extra = p7ops.l2_normalize(extra_negatives)
    keep = ops.matmul(target, ops.transpose(extra)) < duplicate_cosine
    # cos(context chunk, row) for every (b, k, n) as one (B·K, D)(D, N) product: as an einsum "bkd,nd->bkn",
    # TensorFlow's graph ran a batched product over B copies of the shared rows (2.9 s a step for the real-text
    # preset's queue of 4096 rows on a 2-core CPU, against 0.2 s for all its other products)
    shape = ops.shape(context)
    flat = ops.reshape(p7ops.l2_normalize(context), (-1, shape[-1]))
    in_context = ops.max(ops.reshape(ops.matmul(flat, ops.transpose(extra)), (shape[0], shape[1], -1)), axis=1)
    keep = ops.logical_and(keep, in_context < duplicate_cosine)
    if extra_negative_mask is not None:
        keep = ops.logical_and(keep, ops.cast(extra_negative_mask, "bool")[None, :])
    return ops.matmul(query, ops.transpose(extra)), keep


def p7_combined_loss(
    query,
    context,
    target,
    hard_negatives=None,
    *,
    teacher_active=1.0,
    in_batch_negatives: bool = True,
    temperature: float = DEFAULTS.temperature,
    margin: float = DEFAULTS.margin,
    w_rank: float = DEFAULTS.w_rank,
    w_margin: float = DEFAULTS.w_margin,
    w_teacher: float = DEFAULTS.w_teacher,
    floor_threshold: float = DEFAULTS.floor_threshold,
    gate_threshold: float = DEFAULTS.gate_threshold,
    gate_weak_weight: float = DEFAULTS.gate_weak_weight,
    gate_mode: str = DEFAULTS.gate_mode,
    duplicate_cosine: float = DEFAULTS.duplicate_cosine,
    context_negatives: str = DEFAULTS.context_negatives,
    extra_negatives=None,
    extra_negative_mask=None,
    replicas=None,
):
    """The full P7 objective with every component and metric of spec section 5.

    Negative pool per sample (spec section 3): the previous chunk ``c_K`` (``context_negatives``), the
    ``M`` hard negatives, (``in_batch_negatives``) the other ``B−1`` targets of the batch and the
    ``extra_negatives`` shared by every sample (a queue of earlier targets, a bank of training chunks);
    negatives equal to the positive (cosine ≥ ``duplicate_cosine``) are masked out of the softmax.
    ``context_negatives`` only shapes this pool; the prev-repel margin term always uses ``c_K``.

    ``loss = w_rank·loss_rank + w_margin·loss_margin + w_teacher·loss_teacher`` where
    ``loss_rank = mean_i(w_i·L_rank,i)``, ``loss_margin = mean_i(w_i·L_margin,i)`` (``w_i`` the gate
    weights) and ``loss_teacher = teacher_active·L_teacher``.

    Example:

        terms = p7_combined_loss(q, contexts, targets, hard_negs, teacher_active=1.0)
        terms = p7_combined_loss(q, contexts, targets, context_negatives="none", extra_negatives=bank)
        terms["loss"], terms["margin"]

    Args:
        query: ``(B, D)`` unit predictions.
        context: ``(B, K, D)`` contexts, oldest first.
        target: ``(B, D)`` next chunks.
        hard_negatives: optional ``(B, M, D)`` in-article negatives.
        teacher_active: 1.0 during warm-up epochs, 0.0 after (float or 0-d tensor).
        in_batch_negatives: use the other targets of the batch as negatives.
        temperature, margin, w_rank, w_margin, w_teacher, floor_threshold, gate_threshold,
        gate_weak_weight, gate_mode, duplicate_cosine: spec section 4 parameters.
        context_negatives: which context chunks are InfoNCE negatives: ``"prev"`` (``c_K``, the spec's),
            ``"none"`` or ``"all"`` (the K chunks).
        extra_negatives: optional ``(N, D)`` negatives of every sample; a row equal to one of the
            sample's context chunks is left out (the context's role is ``context_negatives``'s).
        extra_negative_mask: optional ``(N,)`` boolean, False for rows of ``extra_negatives`` to leave out.
        replicas: ``(sum over replicas, replica count)`` when an engine split the batch across replicas
            (see :func:`cosine_floor_teacher_loss`; the other terms are means, exact as they are).

    Returns:
        Dict of scalars: ``loss``, ``loss_rank``, ``loss_margin``, ``loss_teacher``, ``cos_next``,
        ``cos_prev``, ``margin``, ``cos_anchor``, ``gate_weight_mean``, ``teacher_violations``.
    """
    if context_negatives not in CONTEXT_NEGATIVES:
        raise ValueError(f"context_negatives must be one of {CONTEXT_NEGATIVES}, got {context_negatives!r}")
    context = ops.convert_to_tensor(context)
    query = p7ops.l2_normalize(query)
    target = p7ops.l2_normalize(target)
    previous = p7ops.l2_normalize(context[:, -1])

    cos_next = ops.sum(query * target, axis=-1)
    cos_prev = ops.sum(query * previous, axis=-1)

    # Negative pool as cosines (B, N): context chunks, hard negatives, batch targets, shared negatives.
    negative_cos, duplicate_cos = _context_pool(query, target, context, previous, cos_prev, context_negatives)
    if hard_negatives is not None:
        hard_negatives = p7ops.l2_normalize(hard_negatives)
        negative_cos.append(ops.einsum("bd,bmd->bm", query, hard_negatives))
        duplicate_cos.append(ops.einsum("bd,bmd->bm", target, hard_negatives))
    valid = [None] * len(negative_cos)
    left_out = _left_out_context(context, context_negatives)
    if hard_negatives is not None and left_out is not None:  # an in-article negative that is a left-out chunk
        valid[-1] = ops.max(ops.einsum("bjd,bmd->bjm", left_out, hard_negatives), axis=1) < duplicate_cosine
    if in_batch_negatives:
        batch_size = ops.shape(target)[0]
        negative_cos.append(ops.matmul(query, ops.transpose(target)))
        duplicate_cos.append(ops.matmul(target, ops.transpose(target)))
        valid.append(ops.logical_not(ops.cast(ops.eye(batch_size), "bool")))
    negative_valid = []
    for dup, extra in zip(duplicate_cos, valid):
        keep = dup < duplicate_cosine
        negative_valid.append(keep if extra is None else ops.logical_and(keep, extra))
    if extra_negatives is not None:
        shared_cos, shared_valid = _shared_pool(query, target, context, extra_negatives, extra_negative_mask,
                                                duplicate_cosine)
        negative_cos.append(shared_cos)
        negative_valid.append(shared_valid)
    if negative_cos:
        rank = _masked_info_nce(
            cos_next,
            ops.concatenate(negative_cos, axis=1),
            ops.concatenate(negative_valid, axis=1),
            temperature,
        )
    else:  # an empty pool: the softmax holds the positive alone
        rank = ops.zeros_like(cos_next)
    margin_loss = ops.relu(margin - cos_next + cos_prev)
    gate = directional_gate_weights(context, target, gate_threshold, gate_weak_weight, gate_mode)
    teacher, violations = cosine_floor_teacher_loss(query, target, floor_threshold, replicas)

    loss_rank = ops.mean(gate * rank)
    loss_margin = ops.mean(gate * margin_loss)
    loss_teacher = ops.cast(teacher_active, teacher.dtype) * teacher
    total = w_rank * loss_rank + w_margin * loss_margin + w_teacher * loss_teacher
    mean_next = ops.mean(cos_next)
    mean_prev = ops.mean(cos_prev)
    return {
        "loss": total,
        "loss_rank": loss_rank,
        "loss_margin": loss_margin,
        "loss_teacher": loss_teacher,
        "cos_next": mean_next,
        "cos_prev": mean_prev,
        "margin": mean_next - mean_prev,
        "cos_anchor": ops.mean(p7ops.cosine(query, p7ops.centroid(context))),
        "gate_weight_mean": ops.mean(gate),
        "teacher_violations": violations,
    }
