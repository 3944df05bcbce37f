"""The audit event schema (one table).

Every audit record is a JSON object with ``time``, ``event`` and ``session``; :data:`EVENTS`
lists the fields each known event carries. ``docs/audit.md`` contains :func:`reference_table`
verbatim (a test checks it), and the tests validate every event a real session writes against
:func:`problems`. Events not in the table are allowed (they need only the common fields), so a
new kind of event never breaks a reader.

Code that adds an event adds it to :data:`EVENTS` (and ``docs/audit.md``). Secrets are logged
by name only (``secrets``), never by value or a digest of it; limits once per session, with
how each is really enforced (``limits``).
"""

from __future__ import annotations

from collections.abc import Mapping

from bwsandbox._record import record

__all__ = [
    "COMMON",
    "EVENTS",
    "EventSpec",
    "Field",
    "problems",
    "reference_table",
]


@record
class Field:
    """One field of an event: its name, JSON type(s), meaning, and whether it is always there."""

    name: str
    types: tuple[type, ...]
    meaning: str
    required: bool = True


@record
class EventSpec:
    """One audit event: its name, what it means and its fields."""

    name: str
    meaning: str
    fields: tuple[Field, ...]


_STR = (str,)
_INT = (int,)
_NUM = (int, float)
_LIST = (list,)
_BOOL = (bool,)
_DICT = (dict,)

#: the fields every record has
COMMON: tuple[Field, ...] = (
    Field("time", _STR, "when the event happened: RFC 3339, UTC, milliseconds"),
    Field("event", _STR, "the event name (this table's first column)"),
    Field("session", _STR, "the session id (12 hex digits; the session directory's name)"),
)


def _f(name: str, types: tuple[type, ...], meaning: str) -> Field:
    return Field(name, types, meaning)


def _opt(name: str, types: tuple[type, ...], meaning: str) -> Field:
    return Field(name, types, meaning, required=False)


EVENTS: dict[str, EventSpec] = {
    spec.name: spec
    for spec in (
        EventSpec(
            "start",
            "the sandbox is about to be launched (written before bwrap runs)",
            (
                _f("client", _STR, "the client compartment"),
                _f("policy", _STR, "the resolved policy's name"),
                _f(
                    "policy_digest",
                    _STR,
                    "`sha256:` + hex digest of the resolved policy's canonical JSON",
                ),
                _f("sources", _LIST, "the files and layers the policy was merged from"),
                _f("argv", _LIST, "the exact bwrap argv; file descriptors as `{fd:NAME}`"),
                _f("command", _LIST, "the command run inside"),
                _f("project", _STR, "the project directory (real path)"),
                _f("workdir", _STR, "the session's private work dir on the host"),
                _f("network", _STR, "network mode: `none`, `filtered` or `host`"),
                _f("interactive", _BOOL, "true when the sandbox got a private terminal"),
            ),
        ),
        EventSpec(
            "record",
            "the session's terminal output is recorded (`--record`)",
            (
                _f("path", _STR, "the asciicast v2 file (`session.cast` in the session dir)"),
                _f("input", _BOOL, "true when keystrokes are recorded too (`--record-input`)"),
            ),
        ),
        EventSpec(
            "secrets",
            "secrets delivered to the session, by name (never a value or a digest of one)",
            (
                _f(
                    "delivered",
                    _LIST,
                    "one object per secret: `name`, `deliver` (`env`, `file`, `proxy`), "
                    "`source` (where it was read from: the reference, not the value)",
                ),
            ),
        ),
        EventSpec(
            "limits",
            "resource limits in force (once, after they are applied to the sandbox)",
            (
                _f(
                    "limits",
                    _DICT,
                    "limit name -> `value` (as the policy gave it) and `how` it is enforced "
                    "here (cgroup, rlimit, or `not enforced: ...`)",
                ),
            ),
        ),
        EventSpec(
            "timeout",
            "the wall-clock limit ran out: the sandbox is stopped (exit status 124)",
            (_f("after", _NUM, "the limit, in seconds"),),
        ),
        EventSpec(
            "net",
            "one network decision of the filtered egress (DNS name or connection)",
            (
                _f("host", _STR, "the name or address asked for"),
                _f("port", (int, type(None)), "the port (null for DNS)"),
                _f("proto", _STR, "`dns`, `tcp`, `tls`, `http`, `connect`, `inject`, ..."),
                _f("decision", _STR, "`allow` or `deny`"),
                _opt("rule", (str, type(None)), "the policy rule that decided"),
                _opt("reason", _STR, "why it was denied"),
                _opt("error", _STR, "an allowed destination that could not be reached"),
                _opt("address", _STR, "the upstream address connected to"),
                _opt("bytes_in", _INT, "bytes received from upstream"),
                _opt("bytes_out", _INT, "bytes sent upstream"),
                _opt("inspected", _INT, "HTTPS inspection: requests seen on the connection"),
                _opt("seconds", _NUM, "how long the connection lasted"),
                _opt("endpoint", _STR, "proto `inject`: the endpoint name inside the sandbox"),
                _opt("secrets", _LIST, "proto `inject`: names of the secrets the proxy added"),
            ),
        ),
        EventSpec(
            "net-change",
            "a live `agent-sandbox allow`/`deny` on the session's control socket",
            (
                _f("op", _STR, "`allow`, `deny`, `refused` (not the owner) or `unavailable`"),
                _f("rules", _LIST, "the rules, as parsed"),
                _opt("peer_pid", _INT, "the pid of the client (SO_PEERCRED)"),
                _opt("peer_uid", _INT, "the uid of the client (SO_PEERCRED)"),
                _opt("cut", _INT, "`deny`: open connections closed because of it"),
                _opt("error", _STR, "why it was refused, or why live changes are unavailable"),
            ),
        ),
        EventSpec(
            "net-ask",
            "ask on first use (`--ask`): a held question, its answer, or the remembered "
            "`allow always` rules read at start",
            (
                _f("op", _STR, "`held`, `answered` or `remembered`"),
                _opt("id", _INT, "the question's number in the session"),
                _opt("host", _STR, "the name asked about"),
                _opt("port", (int, type(None)), "the port (null for a DNS lookup)"),
                _opt("kind", _STR, "`dns`, `tcp`, `http` or `connect`"),
                _opt("timeout", _NUM, "`held`: the bound, in seconds"),
                _opt("decision", _STR, "`answered`: `once`, `session`, `always` or `deny`"),
                _opt("by", _STR, "who answered: `watch (pid N)`, `callback`, `timeout`, ..."),
                _opt("rule", _STR, "`answered`: the rule a `session`/`always` answer adds"),
                _opt("rules", _LIST, "`remembered`: the rules applied"),
                _opt("path", _STR, "the policy file written (`always`) or read"),
                _opt("peer_pid", _INT, "the pid of the watch that answered (SO_PEERCRED)"),
                _opt("peer_uid", _INT, "its uid"),
                _opt("error", _STR, "why an answer did less than asked, or a file problem"),
            ),
        ),
        EventSpec(
            "request",
            "one HTTP request on an inspected connection (an allow rule with methods or a path)",
            (
                _f("host", _STR, "the inspected name"),
                _f("port", _INT, "the port"),
                _f("method", _STR, "the request method"),
                _f("path", _STR, "the request path, without its query"),
                _f("decision", _STR, "`allow` or `deny`"),
                _opt("query", _BOOL, "true when the target had a query (never logged: tokens)"),
                _opt("rule", _STR, "the inspecting rule that allowed it"),
                _opt("reason", _STR, "why it was refused"),
                _opt("status", _INT, "the response status (403 when refused)"),
                _opt("bytes_in", _INT, "response bytes relayed to the sandbox"),
                _opt("bytes_out", _INT, "request body bytes sent upstream"),
                _opt("secrets", _LIST, "secrets injected into it (names)"),
            ),
        ),
        EventSpec(
            "network",
            "one line of the denial summary, written when the network closes",
            (_f("summary", _STR, "the line, with the `--allow` that would permit it"),),
        ),
        EventSpec(
            "protected-path",
            "a protected path (e.g. `.git/hooks`) changed during the session",
            (_f("message", _STR, "what changed, as shown to the user"),),
        ),
        EventSpec(
            "git-history",
            "after the session: a change to the project's git state (commits, index entries, "
            "refs, alternates, gitlinks, a new top `.git`) that touches a protected path or "
            "could make host git misbehave",
            (
                _f(
                    "kind",
                    _STR,
                    "`commit`, `index`, `gitlink`, `ref`, `alternates`, `repository`, `todo` or "
                    "`error`",
                ),
                _f("message", _STR, "what changed and what to do, as shown to the user"),
                _f("paths", _LIST, "the protected paths, refs or files concerned"),
                _f("commits", _LIST, "commit ids (`commit`), blob or gitlink ids (`index`)"),
                _f("action", _STR, "`reported`, `restored` or `moved-aside`"),
            ),
        ),
        EventSpec(
            "error",
            "the sandbox failed to start",
            (_f("error", _STR, "the error message"),),
        ),
        EventSpec(
            "exit",
            "the command ended",
            (
                _f("returncode", _INT, "its exit status (128+N for signal N)"),
                _f("duration", _NUM, "seconds from `start` to exit"),
                _opt("signal", _STR, "the signal's name when it died of one (`SIGKILL`)"),
                _opt("error", _STR, "bwrap failed during setup: its message"),
            ),
        ),
        EventSpec(
            "cleanup-error",
            "a teardown step failed (the next steps still ran)",
            (_f("error", _STR, "what failed"),),
        ),
    )
}


def problems(record: Mapping[str, object]) -> list[str]:
    """What is wrong with one audit record (empty when it matches :data:`EVENTS`)."""
    found = [
        f"missing or non-string {field.name!r}"
        for field in COMMON
        if not isinstance(record.get(field.name), str)
    ]
    spec = EVENTS.get(str(record.get("event")))
    if spec is None:
        return found
    for field in spec.fields:
        if field.name not in record:
            if field.required:
                found.append(f"{spec.name}: missing {field.name!r}")
            continue
        value = record[field.name]
        bad_bool = isinstance(value, bool) and bool not in field.types
        if bad_bool or not isinstance(value, field.types):
            found.append(f"{spec.name}: {field.name!r} has type {type(value).__name__}")
    return found


def reference_table() -> str:
    """The Markdown reference table of events (``docs/audit.md`` contains it verbatim)."""
    rows = ["| event | fields | meaning |", "| --- | --- | --- |"]
    common = ", ".join(f"`{f.name}`" for f in COMMON)
    rows.append(f"| *(every event)* | {common} | {'; '.join(f.meaning for f in COMMON)} |")
    for spec in EVENTS.values():
        fields = "<br>".join(
            f"`{f.name}`{'' if f.required else ' (optional)'}: {f.meaning}" for f in spec.fields
        )
        rows.append(f"| `{spec.name}` | {fields} | {spec.meaning} |")
    return "\n".join(rows) + "\n"
