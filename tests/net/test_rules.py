"""Allowlist grammar and decisions (pure)."""

from __future__ import annotations

import ipaddress

import pytest

from bwsandbox._netrules import RuleKind, parse_rule
from bwsandbox.net._allowlist import Allowlist, is_special, suggest


@pytest.mark.parametrize(
    ("text", "kind", "canonical"),
    [
        ("example.com", RuleKind.NAME, "example.com"),
        ("Example.COM.:443", RuleKind.NAME, "example.com:443"),
        ("api.example.com:8000-8099", RuleKind.NAME, "api.example.com:8000-8099"),
        ("*.example.com", RuleKind.WILDCARD, "*.example.com"),
        ("*.example.com:22", RuleKind.WILDCARD, "*.example.com:22"),
        ("10.0.0.5", RuleKind.NETWORK, "10.0.0.5"),
        ("10.0.0.0/8:22", RuleKind.NETWORK, "10.0.0.0/8:22"),
        ("2001:db8::1", RuleKind.NETWORK, "2001:db8::1"),
        ("2001:db8::/32", RuleKind.NETWORK, "2001:db8::/32"),
        ("[2001:db8::1]:443", RuleKind.NETWORK, "[2001:db8::1]:443"),
        ("localhost-ish_name", RuleKind.NAME, "localhost-ish_name"),
    ],
)
def test_valid_rules(text: str, kind: RuleKind, canonical: str) -> None:
    rule = parse_rule(text)
    assert rule.kind is kind
    assert str(rule) == canonical
    assert parse_rule(str(rule)) == rule


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected host"),
        ("*", "wildcards are written"),
        ("https://example.com", "no scheme"),
        ("example.com/path", "only allow rules take methods or a path"),
        ("10.0.0.1/8", "did you mean 10.0.0.0/8"),
        ("example.com:0", "out of range"),
        ("example.com:http", "not a number"),
        ("a..b", "not a valid host name"),
        ("a.*.b", "first label"),
        ("1.2.3.999", "not a valid IPv4"),
        ("[1.2.3.4]:80", "only for IPv6"),
        ("2001:db8::1:80x", "not an IPv6 address"),
        ("exa mple.com", "'exa' is not an HTTP method"),
    ],
)
def test_invalid_rules_say_what_was_expected(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_rule(text)


def test_wildcard_matches_subdomains_only() -> None:
    rule = parse_rule("*.example.com")
    assert rule.matches_name("a.example.com", 443)
    assert rule.matches_name("a.b.example.com", 1)
    assert not rule.matches_name("example.com", 443)
    assert not rule.matches_name("badexample.com", 443)


def test_name_port_and_deny_precedence() -> None:
    rules = Allowlist.parse(["api.example.com:443", "*.example.com"], deny=["bad.example.com"])
    assert rules.check_name("api.example.com", 443).allowed
    assert rules.check_name("other.example.com", 8080).allowed
    assert not rules.check_name("bad.example.com", 443).allowed
    assert not rules.resolvable("bad.example.com").allowed
    assert rules.check_name("evil.com", 443).reason == "name not allowed"
    only_443 = Allowlist.parse(["api.example.com:443"])
    assert only_443.check_name("api.example.com", 80).reason == "port not allowed"
    assert only_443.resolvable("api.example.com").allowed


def test_port_specific_deny_still_resolves() -> None:
    rules = Allowlist.parse(["example.com"], deny=["example.com:25"])
    assert rules.resolvable("example.com").allowed
    assert not rules.check_name("example.com", 25).allowed
    assert rules.check_name("example.com", 443).allowed


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.0.1", "169.254.169.254", "100.64.0.1",
     "0.0.0.0", "224.0.0.1", "::1", "fe80::1", "fd00::1", "::ffff:10.0.0.1", "fd00:ec2::254"],
)  # fmt: skip
def test_special_addresses(address: str) -> None:
    assert is_special(ipaddress.ip_address(address))


def test_special_addresses_need_an_explicit_rule() -> None:
    metadata = ipaddress.ip_address("169.254.169.254")
    assert not Allowlist.parse(["0.0.0.0/0"]).check_address(metadata, 80).allowed
    assert Allowlist.parse(["169.254.169.254"]).check_address(metadata, 80).allowed
    public = ipaddress.ip_address("93.184.216.34")
    assert Allowlist.parse(["0.0.0.0/0"]).check_address(public, 80).allowed
    assert not Allowlist.parse([]).check_address(public, 80).allowed
    mapped = ipaddress.ip_address("::ffff:10.0.0.1")
    assert not Allowlist.parse(["::/0", "0.0.0.0/0"]).check_address(mapped, 80).allowed


def test_a_name_resolving_to_a_private_address_is_refused_unless_pinned() -> None:
    private = ipaddress.ip_address("10.0.0.7")
    rules = Allowlist.parse(
        ["intranet.example", "pinned.example"], add_hosts=[("pinned.example", "10.0.0.7")]
    )
    assert not rules.check_address(private, 443, name="intranet.example").allowed
    assert rules.check_address(private, 443, name="pinned.example").allowed
    public = ipaddress.ip_address("93.184.216.34")
    assert rules.check_address(public, 443, name="intranet.example").allowed


def test_suggestions() -> None:
    assert suggest("example.com", None) == "--allow example.com"
    assert suggest("example.com", 8443) == "--allow example.com:8443"
    assert suggest("2001:db8::1", 443) == "--allow [2001:db8::1]:443"
