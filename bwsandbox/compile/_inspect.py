"""The sandbox side of HTTPS inspection: a CA bundle that trusts the session's CA.

When an allow rule inspects (methods or a path glob), the proxy presents certificates signed
by a CA minted for the session (``net/_tls_ca.py``). The plan carries a placeholder data
file for the bundle (the host's bundle plus that CA's certificate; filled at launch, since
the CA does not exist before) bound read-only over the system bundle, and the variables that
make the usual clients read it, so Python, Node, curl, git, pip... trust it with no flags.
The CA's key never enters the sandbox.
"""

from __future__ import annotations

from collections.abc import Callable

from bwsandbox.compile._facts import HostFacts, PathKind
from bwsandbox.compile._options import DataBind, FdRef

__all__ = ["CA_BUNDLE", "CA_BUNDLE_FALLBACK", "CA_BUNDLE_FD", "CA_ENV", "ca_bundle"]

#: the system bundle (Debian, Ubuntu, Arch, Alpine); covered when the host has it
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
#: where the bundle goes when the system one is absent or a symlink
CA_BUNDLE_FALLBACK = "/run/agent-sandbox/ca-certificates.crt"
CA_BUNDLE_FD = FdRef("data:ca-bundle")
#: variables that name a CA bundle, by the tools that read them
CA_ENV = (
    "SSL_CERT_FILE",  # OpenSSL: Python's ssl, Ruby, PHP, Go (with SSL_CERT_DIR)
    "NODE_EXTRA_CA_CERTS",  # Node, npm, Claude Code, Codex's Node wrapper
    "REQUESTS_CA_BUNDLE",  # requests, pip
    "CURL_CA_BUNDLE",  # curl
    "GIT_SSL_CAINFO",  # git over https
    "PIP_CERT",  # pip
    "AWS_CA_BUNDLE",  # AWS CLI and SDKs
    "CARGO_HTTP_CAINFO",  # cargo
    "DENO_CERT",  # deno
)


def ca_bundle(
    facts: HostFacts, data_file: Callable[[str, bytes], FdRef]
) -> tuple[DataBind, tuple[tuple[str, str], ...]]:
    """The bundle's mount (it states its own mount-table entry) and the variables naming it."""
    info = facts.path(CA_BUNDLE)
    dest = CA_BUNDLE if info is not None and info.kind is PathKind.FILE else CA_BUNDLE_FALLBACK
    ref = data_file("ca-bundle", b"")  # filled at launch (runtime: net._tls_ca)
    assert ref == CA_BUNDLE_FD
    env = tuple((name, dest) for name in CA_ENV)
    return DataBind(ref, dest, perms="0444"), env
