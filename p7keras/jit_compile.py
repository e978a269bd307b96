"""What ``jit_compile="auto"`` compiles for a P7 ranker: Keras' choice, and XLA on a TensorFlow CPU where it was
measured faster (issue 23).

Keras' own ``"auto"`` is ``jax.jit`` on JAX, eager on PyTorch, and on TensorFlow XLA only with a GPU: a tf.function
graph on a CPU. For P7 rankers on TensorFlow the graph was measured slower than XLA on a CPU (2-core AMD EPYC, AVX2,
2026-12-04, two rounds alternating ``p7keras train --backend tensorflow --jit-compile {off,on} --epochs 3
--no-export`` on the default data, each epoch with its validation; the first epoch compiles): the transformer's
later epochs took 18.3-21.8 s under XLA against 23.5-39.2 s in the graph, its whole runs 98.7-101.3 s against
113.3-129.7 s; the real-text preset's flat model (``--preset real-text``, 8 epochs by default) 3.1-5.1 s an epoch
against 5.7-10.1 s, its 3-epoch runs level (33.1-35.2 s against 33.2-37.4 s; the graph's 8.9 s first epoch against
XLA's 16.6-17.0 s). The LSTM's later epochs were level (16.6-20.0 s against 17.1-19.9 s) and its whole runs slower
(80.1-80.4 s against 67.1-68.6 s), so it keeps the graph. So ``"auto"`` is XLA for a float32 transformer or flat
ranker on TensorFlow with no GPU and no ``tf.distribute`` strategy; everything else is Keras' choice: strategies and
``mixed_float16`` were not measured under XLA on a CPU, and ``mixed_bfloat16`` (what ``--precision auto`` trains in
on a bfloat16 CPU) was slower under XLA than in the graph (:data:`MIXED_UNDER_XLA`).

``P7KERAS_CPU_XLA`` sets the rule on a machine: ``auto`` (or unset) as above, ``off`` never adds XLA (``"auto"`` is
then Keras' choice; the test suite pins this, as XLA compiles every small test model for seconds), ``on`` adds it
for every model and policy on a TensorFlow CPU.

The standard library only, so ``p7keras train`` checks ``P7KERAS_CPU_XLA`` before any work; the models
(``P7Ranker.auto_jit_compile``) decide with this rule when they are compiled, and a run prints its reason.

Example:

    auto_jit_compile("tensorflow", "transformer")     # (True, 'auto: XLA on TensorFlow's CPU, measured ...')
    auto_jit_compile("tensorflow", "lstm")            # (None, "auto: Keras' choice (...)")
"""

from __future__ import annotations

import functools
import os

# Model types whose TensorFlow step is faster under XLA on a CPU, and the measurement (module docstring).
XLA_ON_CPU = {
    "transformer": "epochs of the default run 18.3-21.8 s against 23.5-39.2 s in the graph",
    "flat": "epochs of the real-text preset 3.1-5.1 s against 5.7-10.1 s in the graph",
}
# Mixed policies measured under XLA on a TensorFlow CPU, slower than the graph: the bench transformer on a 2-core
# Intel Xeon with AMX, 2026-12-05, two rounds (`p7keras bench --what train --precision P --compare-prototype
# --rounds 1 [--jit-compile on]`).
MIXED_UNDER_XLA = {
    "mixed_bfloat16": "XLA measured slower: 1.31-1.33x the reference against the graph's 1.75-1.87x, on AMX",
}
# The variable that sets the rule on a machine (module docstring), and what it takes.
CPU_XLA_ENV = "P7KERAS_CPU_XLA"
CPU_XLA_CHOICES = ("auto", "on", "off")


@functools.cache
def tensorflow_sees_gpu() -> bool:
    """Whether TensorFlow has a GPU to run on (its physical devices; imports TensorFlow, asked once a process).

    Example:

        tensorflow_sees_gpu()     # False on a machine without a GPU, or with CUDA_VISIBLE_DEVICES=""
    """
    import tensorflow as tf  # noqa: PLC0415 (only where TensorFlow is asked)

    return bool(tf.config.list_physical_devices("GPU"))


def cpu_xla_setting() -> str:
    """What ``P7KERAS_CPU_XLA`` says (``auto`` when unset or empty).

    Raises:
        ValueError: a value that is not one of ``CPU_XLA_CHOICES``.
    """
    value = os.environ.get(CPU_XLA_ENV, "").strip() or "auto"
    if value not in CPU_XLA_CHOICES:
        raise ValueError(f"{CPU_XLA_ENV}={value!r} is not one of {CPU_XLA_CHOICES}")
    return value


def auto_jit_compile(backend: str, model_type: str | None, precision: str = "float32", gpu: bool = False,
                     distributed: bool = False) -> tuple[bool | None, str]:
    """What ``jit_compile="auto"`` compiles for a ranker, and why.

    Example:

        auto_jit_compile("tensorflow", "flat")                    # (True, 'auto: XLA on TensorFlow's CPU ...')
        auto_jit_compile("tensorflow", "flat", gpu=True)          # (None, "auto: Keras' choice ...")

    Args:
        backend: the Keras backend.
        model_type: the ranker's ``MODEL_TYPE`` (``p7keras.config.MODEL_TYPES``), None for another model.
        precision: the model's dtype policy name.
        gpu: whether a GPU may compute (TensorFlow sees one).
        distributed: whether the model trains under a ``tf.distribute`` strategy.

    Returns:
        ``(True, reason)`` where XLA is chosen beyond Keras' own rule, else ``(None, reason)``: Keras decides.

    Raises:
        ValueError: ``P7KERAS_CPU_XLA`` is set to something else than ``CPU_XLA_CHOICES``.
    """
    pinned = cpu_xla_setting()
    if backend != "tensorflow":
        return None, "auto: Keras' choice (jax.jit on JAX, eager on PyTorch)"
    cpu_alone = not gpu and not distributed
    if cpu_alone and pinned == "on":
        return True, f"auto: XLA on TensorFlow's CPU ({CPU_XLA_ENV}=on); --jit-compile off for the graph"
    if cpu_alone and pinned == "auto" and precision == "float32" and model_type in XLA_ON_CPU:
        return True, (f"auto: XLA on TensorFlow's CPU, measured faster for the {model_type} model "
                      f"({XLA_ON_CPU[model_type]}); --jit-compile off for the graph")
    why = ("a GPU: XLA" if gpu else "under tf.distribute: the graph" if distributed
           else f"{CPU_XLA_ENV}=off: the graph" if pinned == "off"
           else f"{precision}: the graph ({MIXED_UNDER_XLA.get(precision, 'XLA was not measured under it')})"
           if precision != "float32"
           else f"the {model_type or 'custom'} model: the graph (XLA measured no faster)")
    return None, f"auto: Keras' choice ({why})"


# What a compiled step runs as, by backend and resolved ``jit_compile`` (``model.jit_compile`` after ``compile``).
_COMPILATIONS = {
    "tensorflow": {True: "XLA", False: "tf.function graph"},
    "jax": {True: "jax.jit", False: "eager"},
    "torch": {True: "torch.compile", False: "eager"},
}


def compilation(backend: str, jit_compile: bool, run_eagerly: bool = False) -> str:
    """How a compiled model's training step runs, named for the run's record (``verdict.json``).

    Example:

        compilation("tensorflow", True)     # "XLA"
        compilation("torch", False)         # "eager"

    Args:
        backend: the Keras backend.
        jit_compile: the model's resolved ``jit_compile`` (``model.jit_compile`` once compiled).
        run_eagerly: the model's ``run_eagerly``.

    Returns:
        ``"XLA"`` or ``"tf.function graph"`` (TensorFlow), ``"jax.jit"`` (JAX), ``"torch.compile"`` (PyTorch), or
        ``"eager"``.
    """
    if run_eagerly:
        return "eager"
    return _COMPILATIONS.get(backend, {}).get(bool(jit_compile), "eager")
