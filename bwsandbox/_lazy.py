"""Lazy package attributes (PEP 562), shared by the packages on the start-up path.

``__getattr__ = lazy_attributes(__name__, {"Name": "pkg.module"}, globals())`` makes
``pkg.Name`` import ``pkg.module`` on first use and cache the value in the package. Imports
nothing itself (not even ``typing``): it is loaded by ``agent-sandbox run`` before anything.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, MutableMapping

__all__ = ["lazy_attributes"]


def lazy_attributes(
    package: str, table: Mapping[str, str], namespace: MutableMapping[str, object]
) -> Callable[[str], object]:
    def __getattr__(name: str) -> object:  # noqa: N807 - the PEP 562 hook itself
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        import sys

        # the import statement's machinery, not importlib.import_module: the same result, and
        # ``python -X importtime`` (which only sees the former) shows what a face loads
        __import__(module)
        value = getattr(sys.modules[module], name)
        namespace[name] = value
        return value

    return __getattr__
