"""KerasTuner searches over the P7 hyperparameter grids (spec section 7).

One idea per module; import what you need from it (``import tuner`` loads neither Keras nor KerasTuner):

* ``tuner.spaces``: the priority 1-3 grids and the ``recommended`` preset, as data (``get_space``);
* ``tuner.windows``: the data, windowed once per context length K (``WindowCache``);
* ``tuner.callbacks``: validation R@k / MRR@10 as epoch metrics (``RetrievalMetrics``);
* ``tuner.hypermodel``: ``P7HyperModel``, the ``keras_tuner.HyperModel``;
* ``tuner.oracles``: KerasTuner's oracles with atomic state files; the grid one resumes after a restart;
* ``tuner.tuners``: grid / Bayesian / Hyperband tuners with a per-trial event log (``make_tuner``);
* ``tuner.results``, ``tuner.report``: per-trial summaries and the ranked table;
* ``tuner.best_run``: the best trial as a run directory; ``tuner.hparams_log``: TensorBoard HParams;
* ``tuner.memory``: RSS per trial; ``tuner.config``, ``tuner.arguments``: settings and flags;
* ``tuner.search``: ``run_search`` and the command ``python -m tuner.search`` (= ``p7keras tune``).

Example:

>>> from tuner.spaces import get_space
>>> get_space("priority1").size
27
"""
