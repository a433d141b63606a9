"""A module that loads on first use: a stand-in in ``sys.modules`` until one of its
names is read (importlib's LazyLoader does not do: the ``import`` statement itself reads
``__spec__``, which loads it)."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types


class _StandIn(types.ModuleType):
    """Stands for module ``__name__`` until a name of it is read: then the real module
    is imported (replacing the stand-in in ``sys.modules``) and every read goes to it."""

    def __getattr__(self, name: str) -> object:  # only names the stand-in lacks
        if name.startswith("__") and name != "__path__":
            raise AttributeError(name)  # what the import system probes: not the module's
        return getattr(self._load(), name)

    def _load(self) -> types.ModuleType:
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        return importlib.import_module(self.__name__)


def defer(name: str) -> None:
    """Make the next ``import name`` cheap: it binds a stand-in that imports the module
    when one of its names is first read. Nothing is done for a module already imported
    or not installed (an ``import`` of it then fails as it would have)."""
    if name in sys.modules or importlib.util.find_spec(name) is None:
        return
    sys.modules[name] = _StandIn(name)
