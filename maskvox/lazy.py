"""Package attributes resolved on first use (PEP 562): a package's public names without the
cost of importing the modules that define them until one is touched."""

from __future__ import annotations

import importlib
from typing import Callable


def lazy_names(package: str, public: dict[str, str], namespace: dict) -> tuple[Callable, Callable]:
    """`__getattr__` and `__dir__` for `package`, whose `public` maps each name to its module;
    a resolved name is stored in the package's `namespace`, so later look-ups are plain."""

    def __getattr__(name: str):
        if name not in public:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(public[name]), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(public))

    return __getattr__, __dir__
