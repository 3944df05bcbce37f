"""SSH just in time: a per-session ed25519 key pair, signed by the user's CA for minutes.

``ssh-keygen`` makes the key pair in a private (0700) directory on a memory file system
(``/dev/shm``, else ``$XDG_RUNTIME_DIR``), signs the public key with the CA
(``ssh-keygen -s CA -I ID -n PRINCIPALS -V +VALIDITY -O clear ...``), and the directory is
removed at once: the private key lives on only in this process's memory and in the sealed
memfd the sandbox sees as ``~/.ssh/id_ed25519``. The user's own keys and agent never enter.
The target's ``sshd`` trusts the CA (``TrustedUserCAKeys``); the certificate's principals,
validity, ``force-command`` and ``source-address`` are enforced there, by the server.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile

from bwsandbox._errors import DependencyError, SecretError
from bwsandbox._record import field, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bwsandbox.compile._secrets import SshPlan

__all__ = ["IssuedCertificate", "issue_certificate", "memory_dir"]

_TMPFS_MAGIC = 0x01021994
_TIMEOUT = 30.0


@record
class IssuedCertificate:
    """A fresh key pair and its certificate. ``private_key`` never leaves memory."""

    private_key: bytes = field(repr=False)
    public_key: bytes
    certificate: bytes
    key_id: str
    principals: tuple[str, ...]
    validity: str

    def describe(self) -> str:
        principals = ",".join(self.principals)
        return f"certificate {self.key_id} for {principals}, valid {self.validity}"


def _is_tmpfs(path: str) -> bool:
    import ctypes
    import ctypes.util

    class _StatFs(ctypes.Structure):
        _fields_ = [("f_type", ctypes.c_long), ("rest", ctypes.c_byte * 120)]

    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    buf = _StatFs()
    if libc.statfs(path.encode(), ctypes.byref(buf)) != 0:
        return False
    return bool(buf.f_type == _TMPFS_MAGIC)


def memory_dir(environ: dict[str, str] | None = None) -> str:
    """A memory-backed directory to create the key pair in (tmpfs)."""
    environ = dict(os.environ if environ is None else environ)
    for candidate in ("/dev/shm", environ.get("XDG_RUNTIME_DIR", "")):
        if candidate and os.access(candidate, os.W_OK | os.X_OK) and _is_tmpfs(candidate):
            return candidate
    raise SecretError(
        "no memory-backed directory for the SSH key pair (/dev/shm, $XDG_RUNTIME_DIR)",
        name="ssh",
        hint="mount a tmpfs on /dev/shm",
    )


def _run(argv: list[str], what: str) -> None:
    try:
        result = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=_TIMEOUT,
            check=False,
        )
    except FileNotFoundError as exc:
        raise DependencyError("ssh-keygen is not installed", hint="install openssh-client") from exc
    except (OSError, subprocess.SubprocessError) as exc:
        raise SecretError(f"cannot {what}: {type(exc).__name__}", name="ssh") from exc
    if result.returncode != 0:
        lines = result.stderr.decode(errors="replace").strip().splitlines()
        reason = lines[-1] if lines else f"exit status {result.returncode}"
        hint = None
        if "passphrase" in reason.lower() or "load key" in reason.lower():
            hint = "the CA key must be readable without a passphrase prompt"
        raise SecretError(f"cannot {what}: {reason}", name="ssh", hint=hint)


def _sign_options(plan: SshPlan, window: str) -> list[str]:
    options = ["-V", window, "-O", "clear"]
    for extension in plan.extensions:
        options += ["-O", extension]
    if plan.force_command:
        options += ["-O", f"force-command={plan.force_command}"]
    if plan.source_address:
        options += ["-O", "source-address=" + ",".join(plan.source_address)]
    return options


def issue_certificate(
    plan: SshPlan,
    session_id: str,
    *,
    window: str | None = None,
    ssh_keygen: str = "ssh-keygen",
    workdir: str | None = None,
) -> IssuedCertificate:
    """Make a key pair in memory and sign it with ``plan.ca_key``.

    ``window`` overrides the validity (``ssh-keygen -V`` syntax, e.g. ``-10m:-5m`` for a
    certificate that has already expired: for tests).
    """
    if not os.path.isfile(plan.ca_key):  # noqa: PTH113
        raise SecretError(
            f"the SSH CA key {plan.ca_key} does not exist",
            name="ssh",
            hint=f"create one: ssh-keygen -t ed25519 -f {plan.ca_key}",
        )
    key_id = f"bwsandbox-{session_id}"
    base = workdir or memory_dir()
    directory = tempfile.mkdtemp(prefix="bwsandbox-ssh-", dir=base)
    try:
        key = os.path.join(directory, "id_ed25519")  # noqa: PTH118
        _run(
            [ssh_keygen, "-q", "-t", "ed25519", "-N", "", "-C", key_id, "-f", key],
            "create the session key pair",
        )
        _run(
            [
                ssh_keygen,
                "-q",
                "-s",
                plan.ca_key,
                "-I",
                key_id,
                "-n",
                ",".join(plan.principals),
                *_sign_options(plan, window or f"+{plan.validity}"),
                key + ".pub",
            ],
            f"sign the session key with {plan.ca_key}",
        )
        contents = []
        for path in (key, key + ".pub", key + "-cert.pub"):
            with open(path, "rb") as handle:  # noqa: PTH123
                contents.append(handle.read())
    except OSError as exc:
        raise SecretError(f"cannot create the session key: {exc.strerror}", name="ssh") from exc
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(directory)
    return IssuedCertificate(
        private_key=contents[0],
        public_key=contents[1],
        certificate=contents[2],
        key_id=key_id,
        principals=plan.principals,
        validity=window or plan.validity,
    )
