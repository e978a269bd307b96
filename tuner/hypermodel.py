"""``P7HyperModel``: a ``keras_tuner.HyperModel`` over a P7 search space, with the context length K searchable.

``build(hp)`` builds and compiles the ranker of the trial's ``TrainConfig`` (the base configuration
with the searched values replaced) with ``p7keras.training``'s ``build_model``. ``fit(hp, model)``
takes the data windowed for the trial's K from a :class:`tuner.windows.WindowCache` (each K is
windowed once per search), trains with the P7 callbacks (teacher warm-up, NaN guard, monitor) plus
:class:`p7keras.callbacks.RetrievalMetrics`, and, given a trial folder, writes the trial's summary
(``p7_trial.json``) and its final weights there.

Example:

    from p7keras.training import TrainConfig
    from tuner.spaces import get_space
    from tuner.windows import WindowCache
    base = TrainConfig(d_model=16, num_heads=2, num_layers=1, ff_dim=32, epochs=1, num_articles=20, dim=16)
    hypermodel = P7HyperModel(get_space("priority1"), base, WindowCache.from_config(base))
    tuner = keras_tuner.GridSearch(hypermodel, objective=keras_tuner.Objective("val_margin", "max"))
"""

from __future__ import annotations

import dataclasses
import os
import time

import keras
import keras_tuner

from p7keras.callbacks import default_callbacks
from p7keras.training.config import TrainConfig
from p7keras.training.train import build_model, compilation_line, fit_batches
from tuner.memory import rss_mib
from tuner.results import FINAL_WEIGHTS, OBJECTIVES, summarize_history, write_trial_summary
from tuner.spaces import SearchSpace
from tuner.windows import WindowCache

# What KerasTuner reports as the id of a tuner outside distributed mode.
DEFAULT_TUNER_ID = "tuner0"


class P7HyperModel(keras_tuner.HyperModel):
    """The P7 ranker as a KerasTuner hypermodel.

    Args:
        space: the search space (``tuner.spaces.get_space(...)``).
        base: the settings that are not searched (model size, epochs, batch size, data, seed...), checked
            with every grid point before the search (``SearchConfig.check``, ``preflight``): neither the
            hypermodel nor a trial checks them again.
        data: the data, windowed per K on demand.
        objective: the logged metric the search maximises (decides each trial's best epoch).
        stream: where the first trial's build prints how the trials' step compiles, as ``p7keras train`` does
            (``Compilation: XLA (...)`` where ``--jit-compile auto`` chose XLA); None: nowhere. Every trial of a
            search compiles alike: the backend, model type and precision are the base's.
    """

    def __init__(self, space: SearchSpace, base: TrainConfig, data: WindowCache, objective: str = OBJECTIVES[0],
                 stream=None):
        super().__init__(name="p7", tunable=True)
        if objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {objective!r}; choose one of: {', '.join(OBJECTIVES)}")
        self.space = space
        self.base = base
        self.data = data
        self.objective = objective
        self.stream = stream

    def config_for(self, hp: keras_tuner.HyperParameters) -> TrainConfig:
        """The trial's ``TrainConfig``: the base with the space's values (registered on ``hp``).

        Args:
            hp: the trial's hyperparameters.

        Returns:
            A ``TrainConfig`` (a grid point with the base: checked before the search).
        """
        return dataclasses.replace(self.base, **self.space.declare(hp))

    def build(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        """The compiled ranker of the trial (seeded with the base seed).

        It is left unbuilt: its weights are created by the first batch of ``fit``, or by KerasTuner's
        ``build_from_config`` before it loads a checkpoint (Hyperband, ``load_model``).
        """
        config = self.config_for(hp)
        keras.utils.set_random_seed(config.seed)
        model = build_model(config, self.data.dim)
        if self.stream is not None:
            if line := compilation_line(config, model):
                print(line, file=self.stream)
            self.stream = None  # said once
        return model

    def fit(self, hp, model, *args, callbacks=None, epochs=None, initial_epoch=0, verbose=0, trial_dir=None,
            **kwargs) -> keras.callbacks.History:
        """Trains ``model`` on the data windowed for the trial's K.

        Args:
            hp: the trial's hyperparameters.
            model: the model ``build(hp)`` returned.
            callbacks: callbacks added after the P7 ones (the tuner's own).
            epochs: the last epoch (default the base ``epochs``; Hyperband sets it).
            initial_epoch: the first epoch (Hyperband continues trials).
            verbose: ``model.fit`` verbosity.
            trial_dir: when given, ``p7_trial.json`` and ``final.weights.h5`` are written there.

        Returns:
            The ``History`` of ``model.fit`` (with ``val_R@5`` and ``val_MRR@10`` every epoch).

        Raises:
            TypeError: data or other fit arguments passed in (the hypermodel owns its data).
        """
        if args or kwargs:
            raise TypeError(
                "P7HyperModel.fit takes its data from its WindowCache (windowed per K); pass no data or "
                f"other fit arguments to search() (got {len(args)} positional, {sorted(kwargs)})"
            )
        config = self.config_for(hp)
        splits = self.data.splits(config.context_length)
        train, val = fit_batches(config, splits, model)
        # RetrievalMetrics first (default_callbacks puts it there): the monitor reads its metrics
        own = default_callbacks(config.warmup_epochs, validation=splits.val, select=config.select,
                                patience=config.patience)
        monitor = own.monitor
        if config.negatives == "corpus":
            model.set_negative_bank(splits.train.bank)  # every training chunk of the trial's split
        start = time.perf_counter()
        history = model.fit(train, validation_data=val, epochs=epochs or config.epochs, initial_epoch=initial_epoch,
                            verbose=verbose, callbacks=[*own, *(callbacks or [])])
        if trial_dir is not None:
            model.save_weights(os.path.join(trial_dir, FINAL_WEIGHTS))
            values = {key: [float(v) for v in series] for key, series in history.history.items()}
            write_trial_summary(trial_dir, {
                "tuner_id": os.environ.get("KERASTUNER_TUNER_ID", DEFAULT_TUNER_ID),
                "pid": os.getpid(),
                "settings": self.space.resolve(hp.values),
                "config": config.to_dict(),
                "objective": self.objective,
                "initial_epoch": int(initial_epoch),
                "epochs": len(values.get("loss", [])),
                "seconds": round(time.perf_counter() - start, 3),
                "rss_mib": round(rss_mib(), 1),
                **summarize_history(values, self.objective, monitor.hard_drift),
                "warnings": [w.rule for w in monitor.warnings],
                "history": values,
            })
        return history
