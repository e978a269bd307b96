"""Each loss matches a small hand-computed reference (numpy), on the active backend."""

import numpy as np
import pytest
from keras import ops

from p7keras import losses
from tests.helpers import rotation_batches, unit


def to_np(x):
    return np.asarray(ops.convert_to_numpy(x))


def cos(a, b):
    return np.sum(unit(a) * unit(b), axis=-1)


def test_info_nce_hand_computed():
    # q = e1, y = e1 (cos 1), negatives e2 (cos 0) and (e1+e2)/√2 (cos 1/√2); τ = 0.5.
    q = np.array([[1.0, 0.0, 0.0]], "float32")
    y = np.array([[1.0, 0.0, 0.0]], "float32")
    negs = np.array([[[0.0, 1.0, 0.0], [1.0, 1.0, 0.0]]], "float32")
    expected = -2.0 + np.log(np.exp(2.0) + np.exp(0.0) + np.exp(2.0 / np.sqrt(2.0)))
    got = to_np(losses.info_nce_ranking_loss(q, y, negs, temperature=0.5))
    np.testing.assert_allclose(got, [expected], rtol=1e-5)


def test_info_nce_masks_given_and_duplicate_negatives():
    q = np.array([[1.0, 0.0, 0.0]], "float32")
    y = np.array([[0.0, 1.0, 0.0]], "float32")
    negs = np.array([[[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]], "float32")
    # Negative 0 duplicates the positive (masked automatically); negative 1 is masked by the caller.
    got = to_np(
        losses.info_nce_ranking_loss(q, y, negs, temperature=1.0, negative_mask=np.array([[1, 0, 1]]))
    )
    expected = -0.0 + np.log(np.exp(0.0) + np.exp(0.0))  # positive and the e3 negative
    np.testing.assert_allclose(got, [expected], rtol=1e-5)
    with pytest.raises(ValueError, match="temperature"):
        losses.info_nce_ranking_loss(q, y, negs, temperature=0.0)


def test_prev_repel_margin_hand_computed():
    q = np.array([[1.0, 0.0], [0.0, 1.0]], "float32")
    y = np.array([[1.0, 1.0], [0.0, 1.0]], "float32")  # cos 0.7071, 1.0
    p = np.array([[1.0, 0.0], [1.0, 0.0]], "float32")  # cos 1.0, 0.0
    got = to_np(losses.prev_repel_margin_loss(q, y, p, margin=0.07))
    np.testing.assert_allclose(got, [0.07 - 1 / np.sqrt(2) + 1.0, 0.0], atol=1e-6)


def test_semantic_anchor_blend_hand_computed():
    q = np.array([[0.0, 2.0]], "float32")  # normalised inside
    context = np.array([[[1.0, 0.0], [1.0, 0.0]]], "float32")  # centroid e1
    got = to_np(losses.semantic_anchor_blend(q, context, lambda_blend=0.75))
    np.testing.assert_allclose(got, unit(np.array([[0.25, 0.75]])), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(got, axis=-1), 1.0, atol=1e-6)


def test_directional_gate_weights_differ_when_delta_differs():
    e1, e2, e3 = np.eye(3, dtype="float32")
    # Sample 0: next equals the newest chunk (Δ = 1 − 0 = 1, strong). Sample 1: next equals the
    # oldest chunk (Δ = 0 − 1 < 0, weak).
    context = np.stack([np.stack([e2, e3, e1]), np.stack([e1, e3, e2])])
    target = np.stack([e1, e1])
    got = to_np(losses.directional_gate_weights(context, target, threshold=0.03, weak_weight=0.25))
    np.testing.assert_allclose(got, [1.0, 0.25])
    # next-vs-prev: Δ = cos(c_K, y) − cos(c_K, c_{K−1}) = 1 − 0 and 0 − 0.
    got = to_np(losses.directional_gate_weights(context, target, 0.03, 0.1, mode="next-vs-prev"))
    np.testing.assert_allclose(got, [1.0, 0.1])
    with pytest.raises(ValueError, match="gate mode"):
        losses.directional_gate_weights(context, target, mode="sideways")


def test_cosine_floor_teacher_hand_computed():
    q = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]], "float32")
    y = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 1.0]], "float32")  # cos 1, 0, −0.7071
    loss, n = losses.cosine_floor_teacher_loss(q, y, floor_threshold=0.2)
    assert float(to_np(n)) == 2.0
    np.testing.assert_allclose(float(to_np(loss)), (1.0 + 1.0 + 1 / np.sqrt(2)) / 2, rtol=1e-5)
    loss, n = losses.cosine_floor_teacher_loss(q[:1], y[:1], floor_threshold=0.2)
    assert float(to_np(n)) == 0.0 and float(to_np(loss)) == 0.0


def reference_combined(q, batch, teacher_active, context_negatives="prev", extra=None, extra_mask=None, **p):
    """Straight numpy transcription of spec sections 3-5 (and issue 11's pool options)."""
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
    delta = cos(c[:, -1], y) - cos(c[:, 0], y)
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


@pytest.mark.parametrize("teacher_active, context_negatives, shared", [
    (0.0, "prev", False), (1.0, "prev", False), (0.0, "none", False), (1.0, "all", False), (0.0, "older", False),
    (0.0, "prev", True), (0.0, "none", True), (1.0, "all", True), (0.0, "older", True),
])
def test_p7_combined_loss_matches_reference(teacher_active, context_negatives, shared):
    batch = rotation_batches(n=12, seed=3)
    extra = extra_mask = None
    if shared:  # 9 shared negatives: one masked, one equal to a positive, one equal to a context chunk
        extra = np.concatenate([rotation_batches(n=6, seed=4)["target"], batch["target"][2:3],
                                batch["context"][5, 1:2], batch["context"][7, 3:4]])
        extra_mask = np.array([1, 1, 0, 1, 1, 1, 1, 1, 1], bool)
    rng = np.random.default_rng(0)
    q = unit(batch["target"] + 0.8 * rng.standard_normal(batch["target"].shape))
    batch["hard_negatives"][0, 0] = batch["target"][0]  # a duplicate of the positive: masked
    batch["hard_negatives"][1, 1] = batch["context"][1, -1]  # c_K as an in-article negative: out with none/older
    batch["hard_negatives"][2, 0] = batch["context"][2, 0]  # an older context chunk: out with none only
    params = dict(
        temperature=0.1, margin=0.07, w_rank=1.0, w_margin=0.5, w_teacher=0.2,
        floor_threshold=0.5, gate_threshold=0.03, gate_weak_weight=0.25,
    )
    got = losses.p7_combined_loss(
        q, batch["context"], batch["target"], batch["hard_negatives"], teacher_active=teacher_active,
        context_negatives=context_negatives, extra_negatives=extra, extra_negative_mask=extra_mask, **params
    )
    want = reference_combined(q, batch, teacher_active, context_negatives, extra, extra_mask, **params)
    assert set(got) == set(want)
    for name, value in want.items():
        np.testing.assert_allclose(float(to_np(got[name])), value, rtol=1e-4, atol=1e-5, err_msg=name)
    assert want["teacher_violations"] > 0  # the case exercises the teacher term
    if teacher_active == 0.0:
        assert float(to_np(got["loss_teacher"])) == 0.0


def test_context_negatives_none_ignores_the_previous_chunk_and_all_adds_every_context_chunk():
    batch = rotation_batches(n=8, seed=6)
    q = batch["target"]
    near = {**batch, "context": batch["context"].copy()}
    near["context"][:, -1] = unit(q + 0.05)  # c_K almost the query: a strong negative when it is in the pool
    params = dict(gate_weak_weight=1.0, temperature=1.0)  # gate weights 1: loss_rank sees the pool only

    def rank(data, mode):
        terms = losses.p7_combined_loss(q, data["context"], data["target"], data["hard_negatives"],
                                        context_negatives=mode, **params)
        return float(to_np(terms["loss_rank"]))

    assert rank(near, "none") == pytest.approx(rank(batch, "none"), abs=1e-6)
    assert rank(near, "prev") > rank(batch, "prev") + 0.01
    assert rank(batch, "all") > rank(batch, "prev") > rank(batch, "none")
    margin = [float(to_np(losses.p7_combined_loss(q, near["context"], near["target"], context_negatives=mode)
                          ["loss_margin"])) for mode in ("prev", "none", "all")]
    assert margin[0] == margin[1] == margin[2] > 0  # prev-repel keeps its own definition
    with pytest.raises(ValueError, match="context_negatives must be one of"):
        losses.p7_combined_loss(q, batch["context"], batch["target"], context_negatives="some")
