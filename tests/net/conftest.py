"""Fixtures for filtered-network tests, over :mod:`bwsandbox.testing`.

- Loopback servers on the host (HTTP, TLS, a recorder that keeps what it received, a lenient
  HTTP upstream), which sandboxes reach only through allowed names
  (``add_hosts=[("web.test", "127.0.0.1")]``, like ``--add-host``).
- ``filtered``: runs a command in a real sandbox with a filtered network, through the
  library's launch path (:func:`bwsandbox.testing.run_sandbox`), and returns its output, the
  audit events and the denial summary. Tests that talk to a running sandbox use
  :func:`bwsandbox.testing.start_sandbox`.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

import pytest

from bwsandbox.testing import (
    LenientHttpServer,
    SandboxResult,
    TcpRecorder,
    run_sandbox,
    serve_http,
    serve_lenient_http,
    serve_tcp_recorder,
    serve_tls,
)

__all__ = ["Filtered", "LenientServer", "Recorder", "SandboxResult", "py"]

Recorder = TcpRecorder
LenientServer = LenientHttpServer


@pytest.fixture(scope="session")
def http_port() -> Iterator[int]:
    """An HTTP server answering ``hello host=HOST path=PATH`` (``/bytes/N``: N bytes)."""
    with serve_http() as port:
        yield port


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    with serve_tcp_recorder() as rec:
        yield rec


@pytest.fixture(scope="session")
def tls_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A TLS server (self-signed for web.test) answering ``sni=<name>`` and closing."""
    with serve_tls(tmp_path_factory.mktemp("tls")) as server:
        yield server.port


@pytest.fixture
def lenient() -> Iterator[LenientServer]:
    with serve_lenient_http() as server:
        yield server


class Filtered(Protocol):
    def __call__(
        self,
        command: Sequence[str],
        *,
        allow: Sequence[str] = (),
        deny: Sequence[str] = (),
        add_hosts: Sequence[tuple[str, str]] = (),
        proxy_env: bool = True,
        stdin: bytes = b"",
    ) -> SandboxResult: ...


@pytest.fixture
def filtered() -> Filtered:
    if shutil.which("bwrap") is None:
        pytest.fail("bwrap is not installed")
    return run_sandbox


def py(source: str) -> list[str]:
    """A python3 command line running ``source`` inside the sandbox."""
    return ["python3", "-c", source]


HERE = Path(__file__).parent
