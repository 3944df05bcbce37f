"""The per-session certificate authority of HTTPS inspection (host side only).

A session with an inspecting allow rule (``GET,HEAD github.com/myorg/*``) mints a CA of its
own when it starts: an ECDSA P-256 key that lives in this process's memory and nowhere
else, and a self-signed CA certificate, valid for two days, that the sandbox trusts through
its CA bundle (the host's bundle plus this certificate, bound read-only over the sandbox's
``/etc/ssl/certs/ca-certificates.crt`` and named by ``SSL_CERT_FILE`` and the like; see
``compile/_inspect.py``). For each inspected name the proxy presents a leaf certificate
signed by it, minted on first use and cached for the session.

``cryptography`` is imported here only, and this module only when a session inspects: other
sessions never pay its import (~25 ms measured, see docs/network.md).

Python's ``ssl`` loads certificates and keys from files only: a leaf's chain and key are
written to a memfd (never to a file system) and loaded through ``/proc/self/fd``; the fd is
closed at once.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import ssl
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey
    from cryptography.x509 import Certificate

    from bwsandbox.compile._plan import SandboxPlan

__all__ = ["HOST_BUNDLES", "SessionCA", "fill_bundle", "host_bundle"]

#: where hosts keep their CA bundle (Debian/Ubuntu/Arch, Fedora/RHEL, openSUSE, Alpine...)
HOST_BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
)
_VALID = datetime.timedelta(days=2)
_SKEW = datetime.timedelta(hours=1)


def host_bundle(environ: Mapping[str, str] | None = None) -> bytes:
    """The host's CA bundle (PEM); empty when the host has none that can be read."""
    candidates = [ssl.get_default_verify_paths().openssl_cafile, *HOST_BUNDLES]
    if environ is not None and environ.get("SSL_CERT_FILE"):
        candidates.insert(0, environ["SSL_CERT_FILE"])
    for path in candidates:
        with contextlib.suppress(OSError):
            with open(path, "rb") as handle:  # noqa: PTH123
                data = handle.read(16 << 20)
            if b"-----BEGIN CERTIFICATE-----" in data:
                return data
    return b""


class SessionCA:
    """A CA for one session; :meth:`server_context` gives the TLS context for a name."""

    def __init__(self, label: str = "") -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        now = datetime.datetime.now(datetime.UTC)
        self._key: EllipticCurvePrivateKey = ec.generate_private_key(ec.SECP256R1())
        self._leaf_key: EllipticCurvePrivateKey = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "agent-sandbox"),
                x509.NameAttribute(
                    NameOID.COMMON_NAME, f"agent-sandbox session CA {label}".strip()[:64]
                ),
            ]
        )
        public = self._key.public_key()
        self._name = name
        self._cert: Certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _SKEW)
            .not_valid_after(now + _VALID)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        self._lock = threading.Lock()
        self._contexts: dict[str, ssl.SSLContext] = {}

    @property
    def certificate_pem(self) -> bytes:
        """The CA certificate (public), for the sandbox's CA bundle."""
        from cryptography.hazmat.primitives.serialization import Encoding

        return self._cert.public_bytes(Encoding.PEM)

    def bundle(self, host: bytes) -> bytes:
        """The sandbox's CA bundle: the host's bundle, then this session's CA."""
        if host and not host.endswith(b"\n"):
            host += b"\n"
        return host + self.certificate_pem

    def server_context(self, name: str) -> ssl.SSLContext:
        """A server-side TLS context presenting a leaf for ``name`` (cached), HTTP/1.1 only."""
        with self._lock:
            context = self._contexts.get(name)
            if context is None:
                context = self._context(name)
                self._contexts[name] = context
            return context

    def _leaf_pem(self, name: str) -> bytes:
        import ipaddress

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.serialization import (
            Encoding,
            NoEncryption,
            PrivateFormat,
        )
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        now = datetime.datetime.now(datetime.UTC)
        san: x509.GeneralName
        try:
            san = x509.IPAddress(ipaddress.ip_address(name))
        except ValueError:
            san = x509.DNSName(name)
        public = self._leaf_key.public_key()
        leaf = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name[:64])]))
            .issuer_name(self._name)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _SKEW)
            .not_valid_after(now + _VALID)
            .add_extension(x509.SubjectAlternativeName([san]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )
        key = self._leaf_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        return leaf.public_bytes(Encoding.PEM) + self.certificate_pem + key

    def _context(self, name: str) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_alpn_protocols(["http/1.1"])
        fd = os.memfd_create("bwsandbox-leaf", os.MFD_CLOEXEC)
        try:
            os.write(fd, self._leaf_pem(name))
            context.load_cert_chain(f"/proc/self/fd/{fd}")
        finally:
            os.close(fd)
        return context


def fill_bundle(
    plan: SandboxPlan, environ: Mapping[str, str], session_id: str = ""
) -> tuple[SandboxPlan, SessionCA]:
    """A new session CA, and ``plan`` with its CA bundle data file filled in."""
    from bwsandbox._record import replace
    from bwsandbox.compile import CA_BUNDLE_FD

    ca = SessionCA(session_id)
    bundle = ca.bundle(host_bundle(environ))
    data = tuple(
        replace(item, content=bundle) if item.fd == CA_BUNDLE_FD else item for item in plan.data
    )
    return replace(plan, data=data), ca
