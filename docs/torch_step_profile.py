"""Profile one PyTorch training step of p7keras against the plain-PyTorch reference's, on a CPU or a CUDA GPU.

Why (README, "On a GPU: an NVIDIA H200"): on the H200 a Keras PyTorch step took about 54 ms against the
reference's 16 ms, while on a CPU the two are level. This script counts, per step, for both:

* the leaf ``aten`` ops that compute (on a GPU: about one kernel each; views and no-op casts left out),
* on a GPU, the CUDA kernels launched and the runtime calls that wait for the device (``cudaStreamSynchronize``,
  ``cudaDeviceSynchronize``) or copy (``cudaMemcpyAsync``),
* the matrix products' share of the CPU time (on a CPU, what a step doing only its products would save),
* on a CPU, the sum of the Keras step's op self times (its kernels, Python aside) beside what 1.5x the reference
  leaves a step (issue 23: a step whose kernels alone take longer cannot reach 1.5x in eager PyTorch),
* where the Keras step turns Python scalars into tensors (Keras' ``convert_to_tensor`` calls
  ``torch.as_tensor(x, device=...)``: on a GPU each is a host-to-device copy),

and prints the wall time of a step, the profiler off. Run from the repository root:

    python docs/torch_step_profile.py                       # the bench sizes (D 768, d_model 512, 4 layers)
    python docs/torch_step_profile.py --dim 32 --d-model 32 --steps 3    # a quick try on a CPU

It sets ``KERAS_BACKEND=torch`` itself; the device is CUDA when torch sees one.
"""

from __future__ import annotations

import argparse
import collections
import os
import time
import traceback

os.environ["KERAS_BACKEND"] = "torch"

# aten ops that move no data: views, no-op casts, allocations, bookkeeping.
NOT_COMPUTE = {
    "aten::to", "aten::as_strided", "aten::view", "aten::reshape", "aten::empty", "aten::empty_strided",
    "aten::resolve_conj", "aten::resolve_neg", "aten::detach", "aten::transpose", "aten::permute",
    "aten::unsqueeze", "aten::select", "aten::slice", "aten::expand", "aten::t", "aten::result_type",
    "aten::alias", "aten::squeeze", "aten::_unsafe_view", "aten::lift_fresh", "aten::empty_like", "aten::set_",
    "aten::_reshape_alias", "aten::contiguous", "aten::is_nonzero", "aten::item", "aten::_local_scalar_dense",
    "aten::split", "aten::chunk", "aten::unbind", "aten::narrow", "aten::as_strided_", "detach",
}
PRODUCTS = ("aten::mm", "aten::bmm", "aten::addmm", "aten::baddbmm")  # the matrix products' own kernels
WAITS = ("cudaStreamSynchronize", "cudaDeviceSynchronize", "cudaEventSynchronize")


def parse(argv=None) -> argparse.Namespace:
    from p7keras.bench.config import add_size_flags  # noqa: PLC0415 (after KERAS_BACKEND is set)

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_size_flags(parser)  # --dim, --d-model, --num-layers, --batch-size: the bench configuration's
    parser.add_argument("--steps", type=int, default=10, help="steps profiled and timed, after a warm-up epoch")
    parser.add_argument("--precision", default="float32")
    return parser.parse_args(argv)


def count(prof, steps: int) -> dict:
    """Leaf compute ops, CUDA kernels, waits and copies per step, the most frequent leaf ops, the ops of most
    CPU time (self time, ms per step), and the matrix products' share of the CPU time (self time of `PRODUCTS` over all ops' self time)."""
    ops, kernels, runtime = collections.Counter(), 0, collections.Counter()
    averages = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
    products = sum(e.self_cpu_time_total for e in averages if e.key in PRODUCTS)
    total = max(sum(e.self_cpu_time_total for e in averages), 1e-9)
    for event in prof.events():
        device = str(getattr(event, "device_type", ""))
        if device.endswith("CUDA"):
            kernels += 1
        elif event.name.startswith("aten::") and not event.cpu_children and event.name not in NOT_COMPUTE:
            ops[event.name] += 1
        elif event.name.startswith("cuda"):
            runtime[event.name] += 1
    return {"ops": sum(ops.values()) / steps, "kernels": kernels / steps,
            "waits": sum(runtime[name] for name in WAITS) / steps, "copies": runtime["cudaMemcpyAsync"] / steps,
            "products": products / total, "ops_ms": total / steps / 1e3, "products_ms": products / steps / 1e3,
            "most_time": ", ".join(f"{e.key.removeprefix('aten::')} {e.self_cpu_time_total / steps / 1e3:.1f} ms"
                                   for e in averages[:8]),
            "top": ", ".join(f"{name[6:]} {n / steps:.0f}" for name, n in ops.most_common(10))}


def profile(step, steps: int, cuda: bool) -> dict:
    """``step`` run ``steps`` times under torch.profiler (then timed without it): the counts of :func:`count`."""
    import torch  # noqa: PLC0415
    from torch.profiler import ProfilerActivity, profile as torch_profile  # noqa: PLC0415

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with torch_profile(activities=activities) as prof:
        step(steps)
    figures = count(prof, steps)
    start = time.perf_counter()
    step(steps)
    figures["ms"] = (time.perf_counter() - start) / steps * 1e3
    return figures


def keras_step(args, cuda: bool):
    """The bench model's ``fit`` over ``steps`` batches, and the Python scalars it turns into tensors, by site."""
    import torch  # noqa: PLC0415

    from p7keras.bench.config import BenchConfig  # noqa: PLC0415
    from p7keras.bench.train import build_model, random_batches  # noqa: PLC0415

    config = BenchConfig(dim=args.dim, d_model=args.d_model, num_layers=args.num_layers,
                         batch_size=args.batch_size, train_steps=args.steps, jit_compile=False,
                         precision=args.precision)
    model, data = build_model(config), random_batches(config)

    def step(steps):
        model.fit(data, batch_size=config.batch_size, epochs=1, verbose=0, steps_per_epoch=steps)
        if cuda:
            torch.cuda.synchronize()

    step(args.steps)  # warm-up
    sites, as_tensor = collections.Counter(), torch.as_tensor

    def counting(value, *rest, **kwargs):
        if isinstance(value, (bool, int, float)):
            frames = [f for f in traceback.extract_stack()[:-1] if "/torch/" not in f.filename]
            site = next((f for f in reversed(frames) if "keras/src/backend" not in f.filename
                         and "keras/src/ops" not in f.filename), frames[-1])
            where = site.filename.split("site-packages/")[-1] if "site-packages/" in site.filename \
                else os.path.relpath(site.filename)
            sites[f"{where}:{site.lineno} ({site.name})"] += 1
        return as_tensor(value, *rest, **kwargs)

    torch.as_tensor = counting
    try:
        step(args.steps)
    finally:
        torch.as_tensor = as_tensor
    return step, sites


def reference_step(args, device):
    """The reference's model, loss, backward, clipping and AdamW on batches already on ``device``."""
    import torch  # noqa: PLC0415
    from torch import nn  # noqa: PLC0415
    from torch.nn import functional as F  # noqa: PLC0415

    from p7keras.bench.reference_torch import ReferenceConfig, ReferenceRanker, step_loss  # noqa: PLC0415

    config = ReferenceConfig(dim=args.dim, d_model=args.d_model, num_layers=args.num_layers,
                             batch_size=args.batch_size)
    model = ReferenceRanker(config).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=1e-4)
    b, k, d = args.batch_size, config.context_length, args.dim

    def unit(*shape):
        return F.normalize(torch.randn(*shape, device=device), dim=-1)

    batch = {"context": unit(b, k, d), "target": unit(b, d), "hard_negatives": unit(b, config.hard_negatives, d)}
    batch["previous"] = batch["context"][:, -1]

    def step(steps):
        for _ in range(steps):
            terms = step_loss(model(batch["context"]), batch, 1.0)
            optimizer.zero_grad()
            terms["loss"].backward()
            nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
            optimizer.step()
            {name: value.item() for name, value in terms.items()}  # noqa: B018 (as the prototype logs them)
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    step(2)  # warm-up
    return step


def main(argv=None) -> int:
    args = parse(argv)
    import torch  # noqa: PLC0415

    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    print(f"device {torch.cuda.get_device_name(0) if cuda else 'cpu'}, torch {torch.__version__}, D {args.dim}, "
          f"d_model {args.d_model}, {args.num_layers} layers, batch {args.batch_size}, {args.precision}, "
          f"{args.steps} steps")
    keras_run, sites = keras_step(args, cuda)
    figures = {}
    for name, step in (("p7keras (Keras, eager)", keras_run), ("reference (plain PyTorch)", reference_step(args, device))):
        f = figures[name] = profile(step, args.steps, cuda)
        gpu = f"; {f['kernels']:.0f} CUDA kernels, {f['waits']:.1f} waits, {f['copies']:.1f} copies" if cuda else ""
        print(f"{name}: {f['ms']:.1f} ms/step; {f['ops']:.0f} leaf compute ops{gpu} per step; matrix products "
              f"{100 * f['products']:.1f}% of the CPU time")
        print(f"    most frequent: {f['top']}")
        print(f"    most CPU time per step: {f['most_time']}")
    ours, reference = figures.values()
    if not cuda:  # on a CPU the ops' self times add up to the step's compute, Python aside
        print(f"1.5x the reference leaves {reference['ms'] / 1.5:.1f} ms a step; the Keras step's aten ops alone take "
              f"{ours['ops_ms']:.1f} ms (self times, the profiler on), its matrix products "
              f"{ours['products_ms']:.1f} ms")
    print(f"Python scalars made tensors per Keras step: {sum(sites.values()) / args.steps:.1f}")
    for site, n in sites.most_common(12):
        print(f"    {n / args.steps:5.1f}  {site}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
