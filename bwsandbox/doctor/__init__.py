"""Host checks behind ``agent-sandbox doctor``: structured results, no printing.

::

    diagnose()              Diagnosis: one Check per thing looked at (the real host)
    diagnose(FakeHost())    the same through a HostProbe fake
    limit_checks()          how each resource limit would be enforced for this user

Each :class:`Check` says what was seen, whether it matters (``ok``, ``warn``, ``fail``,
``info``) and, when something is wrong, the exact command that fixes it. Attributes load
lazily.
"""

from __future__ import annotations

from bwsandbox._lazy import lazy_attributes

TYPE_CHECKING = False  # not typing's: importing typing costs milliseconds

__all__ = [
    "Check",
    "Diagnosis",
    "HostProbe",
    "RealHost",
    "Status",
    "apparmor_profile",
    "diagnose",
    "limit_checks",
]

_LAZY: dict[str, str] = {
    "Check": "bwsandbox.doctor._model",
    "Diagnosis": "bwsandbox.doctor._model",
    "HostProbe": "bwsandbox.doctor._model",
    "Status": "bwsandbox.doctor._model",
    "RealHost": "bwsandbox.doctor._checks",
    "apparmor_profile": "bwsandbox.doctor._checks",
    "diagnose": "bwsandbox.doctor._checks",
    "limit_checks": "bwsandbox.doctor._limits",
}

if TYPE_CHECKING:
    from bwsandbox.doctor._checks import RealHost, apparmor_profile, diagnose
    from bwsandbox.doctor._limits import limit_checks
    from bwsandbox.doctor._model import Check, Diagnosis, HostProbe, Status


__getattr__ = lazy_attributes(__name__, _LAZY, globals())


def __dir__() -> list[str]:
    return sorted(__all__)
