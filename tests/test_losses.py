"""Each loss matches a small hand-computed reference (numpy), on the active backend."""

import numpy as np
import pytest
from keras import ops

from p7keras import losses
from tests.helpers import rotation_batches, unit
from tests.reference import mixed_gate_batch, reference_combined


def to_np(x):
    return np.asarray(ops.convert_to_numpy(x))


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


R = np.sqrt(0.5)  # cos 45°


def _gate_contexts():
    """Two K = 5 contexts whose chunks all give different cosines, target e1 for both.

    Sample 0: c = [e2, e1, ½(e1+e2+e3+e4), u(−e1+e3), u(e1+e2)]. With y = e1 the cosines with y are
    0, 1, 0.5, −R, R, and c_K = u(e1+e2) has cosines R, R, R, −0.5 with c_1 … c_4. Sample 1 swaps c_1 and c_2.
    """
    e1, e2, e3, e4 = np.eye(4, dtype="float32")
    chunks = [e2, e1, (e1 + e2 + e3 + e4) / 2, -e1 + e3, e1 + e2]
    swapped = [chunks[1], chunks[0], *chunks[2:]]
    return np.stack([np.stack(chunks), np.stack(swapped)]).astype("float32"), np.stack([e1, e1])


def test_gate_delta_compares_the_spec_chunks():
    """Hand-computed Δ of both modes: a gate comparing any other chunk gives other numbers."""
    context, target = _gate_contexts()
    # last-vs-first: cos(c_K, y) − cos(c_1, y). (With c_2: R − 1 and R − 0; with c_4: R + R.)
    delta = to_np(losses.directional_gate_delta(context, target, mode="last-vs-first"))
    np.testing.assert_allclose(delta, [R - 0.0, R - 1.0], atol=1e-6)
    # next-vs-prev: cos(c_K, y) − cos(c_K, c_{K−1}) = R − (−0.5). (With c_{K−2}: R − R = 0.)
    delta = to_np(losses.directional_gate_delta(context, target, mode="next-vs-prev"))
    np.testing.assert_allclose(delta, [R + 0.5, R + 0.5], atol=1e-6)


def test_gate_weights_of_the_spec_chunks_at_the_spec_defaults():
    """Defaults 0.03 / 0.25 / last-vs-first: sample 0 (Δ = R) is strong, sample 1 (Δ = R − 1) is weak; with
    next-vs-prev both are strong (Δ = R + 0.5) where c_{K−2} would give Δ = 0, weak."""
    context, target = _gate_contexts()
    np.testing.assert_array_equal(to_np(losses.directional_gate_weights(context, target)), [1.0, 0.25])
    np.testing.assert_array_equal(to_np(losses.directional_gate_weights(context, target, mode="next-vs-prev")),
                                  [1.0, 1.0])


def test_issue_example_delta_and_weight():
    """Issue 20's example: context [e2, e1, u(e1+e2)], target e1: Δ last-vs-first = R − 0 = 0.7071."""
    e1, e2 = np.eye(2, dtype="float32")
    context, target = np.stack([e2, e1, e1 + e2])[None], e1[None]
    np.testing.assert_allclose(to_np(losses.directional_gate_delta(context, target)), [0.7071068], atol=1e-6)
    assert to_np(losses.directional_gate_weights(context, target)).tolist() == [1.0]


def _exact_quarter_contexts():
    """Contexts with Δ = 0.25 exactly in float32 (both modes), from vectors whose norms are powers of two.

    y = e1; c_K = (1, 1, 1, 1, 0 …)/2 has cos 0.5 with y; c_1 = (1, …, 1)/4 over D = 16 has cos 0.25 with y;
    c_{K−1} = (e1 + e5 + e6 + e7)/2 shares one axis with c_K: cos 0.5 · 0.5 = 0.25. Every norm (2, 4), product
    and sum is exact, so Δ = 0.5 − 0.25 in both modes.
    """
    eye = np.eye(16, dtype="float32")
    c_k, c_1, c_prev = eye[:4].sum(0), np.ones(16, "float32"), eye[[0, 4, 5, 6]].sum(0)
    return np.stack([c_1, eye[9], c_prev, c_k])[None], eye[:1]


@pytest.mark.parametrize("mode", ["last-vs-first", "next-vs-prev"])
def test_a_delta_exactly_at_the_threshold_gets_full_weight(mode):
    context, target = _exact_quarter_contexts()
    assert to_np(losses.directional_gate_delta(context, target, mode=mode)).tolist() == [0.25]  # exact in float32
    at = losses.directional_gate_weights(context, target, threshold=0.25, weak_weight=0.1, mode=mode)
    assert to_np(at).tolist() == [1.0]  # Δ ≥ threshold, equality included
    step_above = float(np.nextafter(np.float32(0.25), np.float32(1.0)))  # Δ one float32 step below it
    below = losses.directional_gate_weights(context, target, threshold=step_above, weak_weight=0.1, mode=mode)
    np.testing.assert_allclose(to_np(below), [0.1])


def test_default_threshold_is_0_03_and_weak_weight_0_25():
    """Δ = cos(c_K, e1) with c_1 ⟂ e1: just above 0.03 is full weight, just below gets 0.25."""
    e1, e2, e3 = np.eye(3, dtype="float32")
    context = np.stack([np.stack([e3, e2, u]) for u in (0.0302 * e1 + e2, 0.0298 * e1 + e2)])
    delta = to_np(losses.directional_gate_delta(context, np.stack([e1, e1])))
    assert 0.03 < delta[0] < 0.0302 and 0.0297 < delta[1] < 0.03
    np.testing.assert_array_equal(to_np(losses.directional_gate_weights(context, np.stack([e1, e1]))), [1.0, 0.25])


def test_cosine_floor_teacher_hand_computed():
    q = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]], "float32")
    y = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 1.0]], "float32")  # cos 1, 0, −0.7071
    loss, n = losses.cosine_floor_teacher_loss(q, y, floor_threshold=0.2)
    assert float(to_np(n)) == 2.0
    np.testing.assert_allclose(float(to_np(loss)), (1.0 + 1.0 + 1 / np.sqrt(2)) / 2, rtol=1e-5)
    loss, n = losses.cosine_floor_teacher_loss(q[:1], y[:1], floor_threshold=0.2)
    assert float(to_np(n)) == 0.0 and float(to_np(loss)) == 0.0


@pytest.mark.parametrize("teacher_active, context_negatives, shared, gate_mode", [
    (0.0, "prev", False, "last-vs-first"), (1.0, "prev", False, "next-vs-prev"), (0.0, "none", False, "last-vs-first"),
    (1.0, "all", False, "last-vs-first"), (0.0, "older", False, "next-vs-prev"), (0.0, "prev", True, "last-vs-first"),
    (0.0, "none", True, "next-vs-prev"), (1.0, "all", True, "last-vs-first"), (0.0, "older", True, "last-vs-first"),
])
def test_p7_combined_loss_matches_reference(teacher_active, context_negatives, shared, gate_mode):
    batch = mixed_gate_batch(n=12, seed=3)
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
        context_negatives=context_negatives, extra_negatives=extra, extra_negative_mask=extra_mask,
        gate_mode=gate_mode, **params
    )
    want = reference_combined(q, batch, teacher_active, context_negatives, extra, extra_mask, gate_mode, **params)
    assert set(got) == set(want)
    for name, value in want.items():
        np.testing.assert_allclose(float(to_np(got[name])), value, rtol=1e-4, atol=1e-5, err_msg=name)
    assert want["teacher_violations"] > 0  # the case exercises the teacher term
    assert 0.25 < want["gate_weight_mean"] < 1.0  # and both gate weights
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
