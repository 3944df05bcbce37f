"""How each secret reaches a plan: the delivery records (pure data: no values, no I/O).

These are part of :class:`~bwsandbox.compile._plan.SandboxPlan`; :mod:`._secrets` builds them.
They live below both so that the plan never imports the step that fills it.
"""

from __future__ import annotations

from bwsandbox._record import record
from bwsandbox.compile._options import FdRef
from bwsandbox.policy import SecretDelivery

__all__ = ["SecretUse", "SshPlan"]


@record
class SecretUse:
    """One secret's delivery in a plan. No value: the runtime reads it at launch."""

    name: str
    source: str
    deliver: SecretDelivery
    env: str = ""  # env: the variable inside; proxy: the placeholder variable
    fd: FdRef | None = None  # file: the data file to fill
    path: str = ""  # file: the path inside
    host: str = ""  # proxy: the real upstream
    port: int = 443
    header: str = ""
    template: str = ""
    tls: bool = True
    ca_file: str = ""
    endpoint: str = ""  # proxy: the name inside the sandbox

    def describe(self) -> str:
        """``<secret NAME from SOURCE>``: how explain, logs and errors name it."""
        return f"<secret {self.name} from {self.source}>"


@record
class SshPlan:
    """A per-session SSH certificate: what to sign and where the files go."""

    ca_key: str  # host path
    principals: tuple[str, ...]
    validity: str
    force_command: str
    source_address: tuple[str, ...]
    extensions: tuple[str, ...]
    key_fd: FdRef
    cert_fd: FdRef
    pub_fd: FdRef
    key_path: str
