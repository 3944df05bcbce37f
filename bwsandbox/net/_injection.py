"""One header the proxy injects for a secret (a value type, shared by the proxy modules)."""

from __future__ import annotations

from bwsandbox._record import field, record

__all__ = ["Injection"]


@record
class Injection:
    """One header the proxy adds for requests to ``endpoint``. ``value`` holds the secret."""

    secret: str  # the secret's name, for the audit log
    endpoint: str
    host: str
    port: int
    header: str
    value: str = field(repr=False)  # the secret itself
    template: str = "{secret}"
    tls: bool = True
    ca_file: str = ""

    def header_line(self) -> str:
        return f"{self.header}: {self.template.replace('{secret}', self.value)}"
