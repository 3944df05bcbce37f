"""Policy section ``[devices]``: host devices the sandbox may use (none by default).

The sandbox's ``/dev`` is bwrap's minimal one (null, zero, random, tty, pts, shm); a device
listed here is added on top of it. What each switch binds is decided by the compiler from
what the host probe found (``compile._gpu``), never from paths written in a policy.
"""

from __future__ import annotations

from bwsandbox._record import field, record

__all__ = ["DevicesPolicy"]


@record
class DevicesPolicy:
    """Host devices in the sandbox. Each one is a relaxation: write it down in a policy."""

    gpu: bool = field(
        default=False,
        metadata={
            "doc": (
                "the host's GPUs: NVIDIA device nodes, the driver's user-space libraries and "
                "nvidia-smi, and the DRI render nodes (--gpu); an error when the host has none"
            )
        },
    )
