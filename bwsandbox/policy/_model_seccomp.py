"""The vocabulary of ``seccomp.allow`` and ``seccomp.deny``: the denied groups by name.

A policy names a group (``keyring``) or a syscall (``keyctl``, from the generated table in
:mod:`bwsandbox.policy._syscalls`); the policy checks refuse any other word, and the compiler
(``compile/_seccomp.py``) turns the groups into the filter. Why each group is there:
docs/seccomp.md.
"""

from __future__ import annotations

__all__ = ["GROUPS"]

#: Denied syscalls by group; a group name (or a syscall name) in ``seccomp.allow`` relaxes.
GROUPS: dict[str, tuple[str, ...]] = {
    "keyring": ("keyctl", "add_key", "request_key"),
    "bpf": ("bpf",),
    "perf": ("perf_event_open",),
    "userfaultfd": ("userfaultfd",),
    "io_uring": ("io_uring_setup", "io_uring_enter", "io_uring_register"),
    "kexec": ("kexec_load", "kexec_file_load"),
    "modules": (
        "init_module",
        "finit_module",
        "delete_module",
        "create_module",
        "query_module",
        "get_kernel_syms",
    ),
    "mount": (
        "mount",
        "umount",
        "umount2",
        "pivot_root",
        "move_mount",
        "open_tree",
        "fsopen",
        "fsmount",
        "fsconfig",
        "fspick",
        "mount_setattr",
    ),
    # clone and unshare only with namespace flags; clone3 (flags out of reach in memory)
    # gets ENOSYS, so the C library falls back to clone
    "namespaces": ("unshare", "setns", "clone", "clone3"),
    "ptrace": ("ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd"),
    # personality only with a value other than the ordinary ones (see _PERSONALITIES)
    "personality": ("personality",),
    # ioctl only with TIOCSTI (type into the terminal) and TIOCLINUX
    "tty": ("ioctl",),
    "time": ("settimeofday", "clock_settime", "stime"),
    "host": (
        "acct",
        "swapon",
        "swapoff",
        "reboot",
        "syslog",
        "quotactl",
        "quotactl_fd",
        "vhangup",
        "iopl",
        "ioperm",
        "lookup_dcookie",
        "nfsservctl",
        "uselib",
        "_sysctl",
        "open_by_handle_at",
        "fanotify_init",
        "vm86",
        "vm86old",
    ),
}

#: Groups a sandbox that may nest sandboxes (``hardening.nested_userns``) needs.
