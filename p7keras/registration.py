"""Registers p7keras' models and layers with Keras as soon as Keras is imported, without importing it.

``keras.saving.load_model`` finds a custom class only once the module that defines it has run (its
``@keras.saving.register_keras_serializable``). ``import p7keras`` stays light (the command line answers
``--help`` without Keras), so it cannot import ``p7keras.models`` itself. Instead :func:`register_with_keras`
imports the models at once when Keras is already loaded, and otherwise puts a one-shot import hook in
``sys.meta_path`` that imports them right after Keras has been imported, by whoever imports it (the user,
or p7keras' command line once it has chosen the backend). After that the hook takes itself out.

The hook wraps the loader of ``keras`` and of every p7keras module imported before Keras. A p7keras module
may import Keras halfway through its own code (``import p7keras.layers`` does); the models, which import that
module, are then imported only when it has finished, so they never meet a half-run module.
Nothing else changes: the same loaders run the same modules, and each module's ``__loader__`` is its own.
This module imports only the standard library.

Example:

    import p7keras                          # installs the hook; no Keras yet
    import keras                            # Keras runs, then the hook imports p7keras.models
    keras.saving.load_model("best.keras")   # finds TransformerP7Ranker
"""

from __future__ import annotations

import importlib
import sys
import warnings

MODELS = "p7keras.models"


def import_models() -> None:
    """Imports ``p7keras.models`` (registering every p7keras model and layer); a failure is a warning.

    Keras itself works without p7keras' classes, so an error here does not fail the import that loaded
    Keras; the warning says why ``keras.saving.load_model`` will not find them (and using a model class
    raises the error again).
    """
    try:
        importlib.import_module(MODELS)
    except Exception as error:  # noqa: BLE001 - any error of the models' import, reported, not raised
        warnings.warn(f"p7keras could not register its models with Keras ({type(error).__name__}: {error}); "
                      "keras.saving.load_model will not find them", RuntimeWarning, stacklevel=2)


class _Loader:
    """Runs the module with its own loader, then tells the hook (every other attribute is the loader's)."""

    def __init__(self, loader, hook: KerasImportHook, counted: bool):
        self.loader, self.hook, self.counted = loader, hook, counted

    def __getattr__(self, name):
        return getattr(self.loader, name)

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = module.__spec__.loader = self.loader  # the module sees its own loader only
        self.hook.running += self.counted
        try:
            self.loader.exec_module(module)
        finally:
            self.hook.running -= self.counted
            self.hook.done()


class KerasImportHook:
    """A ``sys.meta_path`` finder that imports ``p7keras.models`` once ``keras`` and every p7keras module
    running at that time have finished, then removes itself. It finds no module itself: the finders after it
    do, and it wraps their loader.
    """

    def __init__(self):
        self.running = 0  # p7keras modules whose code is running under this hook

    def find_spec(self, name, path=None, target=None):
        if name != "keras" and not name.startswith("p7keras."):
            return None
        spec = None
        for finder in sys.meta_path:
            find_spec = getattr(finder, "find_spec", None)
            if finder is not self and find_spec is not None:
                spec = find_spec(name, path, target)
                if spec is not None:
                    break
        if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _Loader(spec.loader, self, counted=name != "keras")
        return spec

    def done(self) -> None:
        """After a module ran: import the models if Keras is loaded and no p7keras module is still running."""
        if self.running == 0 and "keras" in sys.modules and self in sys.meta_path:
            sys.meta_path.remove(self)
            import_models()


def register_with_keras() -> None:
    """Imports ``p7keras.models`` now if Keras is loaded, else when Keras is imported (once).

    Called by ``p7keras/__init__.py``; a second call (a reloaded package) adds no second hook.
    """
    if "keras" in sys.modules:
        import_models()
    elif not any(type(finder).__name__ == KerasImportHook.__name__ for finder in sys.meta_path):
        sys.meta_path.insert(0, KerasImportHook())
