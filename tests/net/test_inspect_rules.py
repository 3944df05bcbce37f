"""HTTPS inspection, the pure parts: the rule grammar, request verdicts, target safety,
response framing, which rules inspect a destination, enforced ceilings, and the plan's CA
bundle. The real proxy runs in ``test_inspect.py``."""

from __future__ import annotations

import fnmatch
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bwsandbox._netrules import METHODS, RuleKind, parse_rule
from bwsandbox.compile._inspect import CA_BUNDLE, CA_BUNDLE_FALLBACK, CA_BUNDLE_FD, CA_ENV
from bwsandbox.net._allowlist import Allowlist
from bwsandbox.net._tls_inspect import request_verdict, unsafe_target
from bwsandbox.net._tls_stream import response_framing
from bwsandbox.policy._enforce import covers


@pytest.mark.parametrize(
    ("text", "methods", "host", "ports", "path"),
    [
        ("GET,HEAD github.com/myorg/*", ("GET", "HEAD"), "github.com", None, "/myorg/*"),
        ("POST api.example.com/v1/messages", ("POST",), "api.example.com", None, "/v1/messages"),
        ("api.example.com/v1/*", (), "api.example.com", None, "/v1/*"),
        ("GET example.com:8443", ("GET",), "example.com", (8443, 8443), ""),
        ("HEAD,GET,GET *.Example.COM./a", ("GET", "HEAD"), "example.com", None, "/a"),
        ("GET h.test:1-9/x?service=y", ("GET",), "h.test", (1, 9), "/x?service=y"),
    ],
)
def test_inspecting_rules_parse(
    text: str, methods: tuple[str, ...], host: str, ports: tuple[int, int] | None, path: str
) -> None:
    rule = parse_rule(text, allow=True)
    assert (rule.methods, rule.host, rule.ports, rule.path) == (methods, host, ports, path)
    assert rule.inspecting
    assert parse_rule(str(rule), allow=True) == rule  # the canonical form reads back the same


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("get example.com", "'get' is not an HTTP method"),
        ("FETCH example.com", "not an HTTP method"),
        ("GET,,HEAD example.com", "not an HTTP method"),
        ("CONNECT example.com", "CONNECT is not an inspectable"),
        ("GET a b", "METHODS"),
        ("GET https://example.com/a", "no scheme"),
        ("GET 10.0.0.1", "for host names"),
        ("GET [2001:db8::1]:443", "for host names"),
        ("GET example.com/a/../b", "dot segment"),
        ("GET example.com/a/%2E%2e/b", "dot segment"),
        ("GET example.com/a#frag", "fragment"),
        ("GET example.com/a\\b", "backslash"),
        ("GET example.com:0/a", "out of range"),
        ("GET localhost:80/a", "localhost is the sandbox itself"),
    ],
)
def test_malformed_inspecting_rules_say_what_was_expected(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        parse_rule(text, allow=True)
    assert repr(text) in str(info.value)


def test_deny_rules_take_no_methods_or_paths() -> None:
    for text in ("GET example.com", "example.com/a"):
        with pytest.raises(ValueError, match="only allow rules"):
            parse_rule(text)


_PATH_CHARS = "ab/.-_*%"


@given(
    glob=st.text(_PATH_CHARS, max_size=12).map(lambda t: "/" + t),
    path=st.text(_PATH_CHARS.replace("*", "") + "?=", max_size=16).map(lambda t: "/" + t),
)
def test_path_globs_match_like_fnmatch_on_the_path(glob: str, path: str) -> None:
    """The oracle: fnmatch (whose ``*`` also crosses ``/``) on the path without its query,
    for globs without ``?`` (only ``*`` is special in ours)."""
    try:
        rule = parse_rule(f"GET x.test{glob}", allow=True)
    except ValueError:
        return  # a dot segment: refused at parse time
    expected = fnmatch.fnmatchcase(path.partition("?")[0], glob)
    assert rule.allows_request("GET", path) is expected
    assert not rule.allows_request("POST", path)


def test_a_glob_with_a_query_matches_the_query_too() -> None:
    rule = parse_rule("GET x.test/repo.git/info/refs?service=git-upload-pack", allow=True)
    assert rule.allows_request("GET", "/repo.git/info/refs?service=git-upload-pack")
    assert not rule.allows_request("GET", "/repo.git/info/refs?service=git-receive-pack")
    assert not rule.allows_request("GET", "/repo.git/info/refs")
    assert parse_rule("GET x.test/a", allow=True).allows_request("GET", "/a?anything")


@given(
    methods=st.sets(st.sampled_from(sorted(METHODS)), min_size=1),
    method=st.sampled_from(sorted(METHODS)),
)
def test_methods(methods: set[str], method: str) -> None:
    rule = parse_rule(f"{','.join(sorted(methods))} x.test", allow=True)
    assert rule.allows_request(method, "/any") is (method in methods)


@pytest.mark.parametrize(
    "target",
    [
        "/a/../b",
        "/a/%2e%2E/b",
        "/a/..%2fb",
        "/a/..%2F..%2Fother",
        "/a/..%5cb",
        "/a\\..\\b",
        "/a/./b",
        "/a#x",
        "*",
        "example.com/a",
    ],
)
def test_targets_that_could_reach_another_path_are_refused(target: str) -> None:
    assert unsafe_target(target)
    rules = (parse_rule("x.test/*", allow=True),)
    assert request_verdict(rules, "GET", target)[0] == ""


@pytest.mark.parametrize("target", ["/a/b", "/api/v4/projects/group%2Fproject", "/a..b/c", "/"])
def test_ordinary_targets_pass(target: str) -> None:
    assert unsafe_target(target) == ""


def test_verdicts_name_the_reason() -> None:
    rules = (
        parse_rule("GET x.test/repo.git/*", allow=True),
        parse_rule("POST x.test/repo.git/git-upload-pack", allow=True),
    )
    assert request_verdict(rules, "POST", "/repo.git/git-upload-pack") == (str(rules[1]), "")
    assert request_verdict(rules, "DELETE", "/repo.git/x")[1] == (
        "method DELETE is not allowed (allowed: GET, POST)"
    )
    assert request_verdict(rules, "POST", "/repo.git/git-receive-pack")[1] == (
        "no rule allows this method and path"
    )


def test_a_plain_rule_for_the_same_destination_turns_inspection_off() -> None:
    inspecting = Allowlist.parse(["GET x.test/a/*", "POST x.test:443/b"])
    verdict = inspecting.check_name("x.test", 443)
    assert verdict.allowed
    assert [str(r) for r in verdict.inspect] == ["GET x.test/a/*", "POST x.test:443/b"]
    assert [str(r) for r in inspecting.check_name("x.test", 80).inspect] == ["GET x.test/a/*"]
    assert inspecting.resolvable("x.test").allowed
    mixed = Allowlist.parse(["GET x.test/a/*", "x.test:443"])
    assert mixed.check_name("x.test", 443).inspect == ()  # the wider rule: tunnelled
    assert mixed.check_name("x.test", 80).inspect != ()


def test_a_live_allow_of_a_plain_rule_lifts_inspection() -> None:
    base = Allowlist.parse(["GET x.test/a/*"])
    assert base.check_name("x.test", 443).inspect
    changed = base.changed([parse_rule("x.test", allow=True)])
    assert changed.check_name("x.test", 443).inspect == ()


@pytest.mark.parametrize(
    ("outer", "inner", "inside"),
    [
        ("GET,HEAD x.test/org/*", "GET x.test/org/repo/*", True),
        ("GET,HEAD x.test/org/*", "POST x.test/org/repo", False),
        ("GET,HEAD x.test/org/*", "x.test", False),  # a plain rule would loosen the ceiling
        ("GET,HEAD x.test/org/*", "GET x.test/other", False),
        ("GET,HEAD x.test/org/*", "GET x.test", False),
        ("x.test", "GET x.test/anything", True),
        ("*.x.test", "POST a.x.test/v1/*", True),
        ("GET x.test/a?s=1", "GET x.test/a", False),
    ],
)
def test_enforced_ceilings_with_inspecting_rules(outer: str, inner: str, inside: bool) -> None:
    assert covers(parse_rule(outer, allow=True), parse_rule(inner, allow=True)) is inside


@pytest.mark.parametrize(
    ("head", "method", "expected"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "GET", (200, "5", True)),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "GET", (200, "chunked", True)),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", "GET", (200, "close", False)),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\n", "GET", (200, "5", False)),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "HEAD", (200, "none", True)),
        (b"HTTP/1.1 304 Not Modified\r\n\r\n", "GET", (304, "none", True)),
        (b"HTTP/1.1 100 Continue\r\n\r\n", "POST", (100, "none", True)),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "GET", (200, "close", False)),
    ],
)
def testresponse_framing(head: bytes, method: str, expected: tuple[int, str, bool]) -> None:
    assert response_framing(head, method) == expected


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/2 200\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n Content-Length: 5\r\n\r\n",
    ],
)
def test_ambiguous_responses_are_refused(head: bytes) -> None:
    with pytest.raises(ValueError, match="upstream"):
        response_framing(head, "GET")


def test_the_plan_trusts_the_session_ca_only_with_an_inspecting_rule() -> None:
    from bwsandbox.compile import compile_plan
    from bwsandbox.policy._model import NetworkMode, NetworkPolicy
    from tests.unit.test_compiler import facts, policy, workspace

    def plan(*allow: str):  # type: ignore[no-untyped-def]
        network = NetworkPolicy(mode=NetworkMode.FILTERED, allow=allow)
        return compile_plan(policy(network=network), facts(), workspace())

    plain = plan("example.com")
    assert not any(d.fd == CA_BUNDLE_FD for d in plain.data)
    assert "SSL_CERT_FILE" not in dict(plain.env)
    inspected = plan("example.com", "GET github.com/org/*")
    assert inspected.network.inspecting
    (bundle,) = [d for d in inspected.data if d.fd == CA_BUNDLE_FD]
    assert bundle.content == b""  # filled at launch, when the session's CA exists
    env = dict(inspected.env)
    dest = env["SSL_CERT_FILE"]
    assert dest in (CA_BUNDLE, CA_BUNDLE_FALLBACK)
    assert all(env[name] == dest for name in CA_ENV)
    assert any(entry.dest == dest for entry in inspected.mounts)
    argv = inspected.argv()
    assert argv[argv.index(dest) - 1] == "{fd:data:ca-bundle}"


def test_hostnames_in_rules_are_plain_text() -> None:
    assert set("".join(sorted(METHODS))) <= set(string.ascii_uppercase)
    assert parse_rule("GET x.test/a", allow=True).kind is RuleKind.NAME


_LABEL = st.text("abcxyz019-", min_size=1, max_size=8).filter(
    lambda t: not t.startswith("-") and not t.endswith("-")
)


@given(
    methods=st.sets(st.sampled_from(sorted(METHODS)), max_size=3),
    labels=st.lists(_LABEL, min_size=1, max_size=3),
    wildcard=st.booleans(),
    port=st.none() | st.integers(1, 65535),
    path=st.none() | st.text("abz09-_./*?=%&", max_size=12).map(lambda t: "/" + t),
)
def test_inspecting_rules_read_back_from_their_canonical_form(
    methods: set[str], labels: list[str], wildcard: bool, port: int | None, path: str | None
) -> None:
    """Any rule the grammar accepts prints as a rule that parses to the same value; what it
    refuses, it refuses with the rule named."""
    host = ("*." if wildcard else "") + ".".join(labels)
    text = (",".join(sorted(methods)) + " " if methods else "") + host
    text += f":{port}" if port is not None else ""
    text += path or ""
    try:
        rule = parse_rule(text, allow=True)
    except ValueError as exc:
        message = str(exc)
    else:
        message = ""
    if message:
        assert repr(text) in message
        return
    assert parse_rule(str(rule), allow=True) == rule
    assert rule.inspecting is bool(methods or path)
    assert rule.methods == tuple(sorted(methods))
