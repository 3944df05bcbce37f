"""The exit summary's network lines: grouped by host, capped, quiet names, escaped."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from bwsandbox._printable import printable
from bwsandbox.net._summary import LIMIT, is_quiet, summary_lines


@dataclass
class D:
    host: str
    port: int | None
    reason: str = "not in the allowlist"
    smuggling: bool = False
    count: int = 1


def test_one_line_per_host_for_dns_and_connection() -> None:
    lines = summary_lines([D("evil.test", None, "dns: not in the allowlist"), D("evil.test", 443)])
    assert lines[0] == "network: blocked 1 host(s); to permit one, add:"
    assert len(lines) == 2
    assert lines[1].startswith("  --allow evil.test:443 ")
    assert "DNS + :443, 2x: not in the allowlist" in lines[1]


def test_several_ports_suggest_the_name() -> None:
    lines = summary_lines([D("a.test", 80), D("a.test", 443, count=3)])
    assert "--allow a.test:80 --allow a.test:443 " in lines[1]
    assert ":80 + :443, 4x" in lines[1]
    many = summary_lines([D("b.test", port) for port in (1, 2, 3, 4)])
    assert many[1].startswith("  --allow b.test ")


def test_quiet_hosts_get_no_suggestion_and_one_line() -> None:
    denials = [D("github.com", None), D("github.com", 443), D("ab.chatgpt.com", 443, count=2)]
    denials.append(D("example.org", 443))
    lines = summary_lines(denials, ("github.com", "*.chatgpt.com"))
    text = "\n".join(lines)
    assert "github.com" not in text
    assert "chatgpt" not in text
    assert "--allow example.org:443" in text
    assert lines[-1].startswith("network: quietly denied 4 update-check/telemetry request(s) to ")
    assert "2 host(s)" in lines[-1]


def test_only_quiet_hosts() -> None:
    lines = summary_lines([D("downloads.claude.ai", 443)], ("downloads.claude.ai",))
    assert len(lines) == 1
    assert lines[0].startswith("network: quietly denied 1 ")


def test_smuggling_is_never_quiet() -> None:
    lines = summary_lines([D("github.com", 443, "SNI mismatch", smuggling=True)], ("github.com",))
    assert "not fixable by --allow" in lines[1]


def test_capped() -> None:
    lines = summary_lines([D(f"h{i}.test", 443) for i in range(LIMIT + 7)])
    assert len(lines) == LIMIT + 2
    assert "and 7 more host(s)" in lines[-1]


def test_is_quiet() -> None:
    assert is_quiet("api.github.com", ["*.github.com"])
    assert not is_quiet("github.com", ["*.github.com"])
    assert is_quiet("GitHub.com.", ["github.com:443"])
    assert not is_quiet("evilgithub.com", ["github.com", "*.github.com"])


def test_control_bytes_in_names_are_escaped() -> None:
    name = "\x1b]0;owned\x07\x1b]52;c;ZWNobw==\x07.test"
    lines = summary_lines([D(name, None, "dns: \x1b[21t not allowed")])
    for line in lines:
        assert "\x1b" not in line
        assert "\x07" not in line
    assert "\\x1b]0;owned\\x07" in lines[1]


@given(st.lists(st.tuples(st.text(max_size=30), st.one_of(st.none(), st.integers(1, 65535)))))
def test_no_line_carries_a_control_character(items: list[tuple[str, int | None]]) -> None:
    for line in summary_lines([D(h, p, reason=h) for h, p in items], quiet=("x",)):
        assert line.isprintable()


@given(st.text())
def test_printable(text: str) -> None:
    out = printable(text, limit=10_000)
    assert out.isprintable()
    if text.isprintable():
        assert out == text
