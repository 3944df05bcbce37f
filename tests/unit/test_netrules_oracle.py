"""The rule grammar checks host labels and path globs without ``re`` (it stays off the
filtered start-up path, 1.4 ms); the regular expressions they replace are the oracle."""

from __future__ import annotations

import re

from hypothesis import example, given
from hypothesis import strategies as st

from bwsandbox import _netrules
from bwsandbox._netrules import normalize_name, parse_rule

#: what the grammar said with ``re`` before
LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
PATH = re.compile(r"/[\x21-\x7e]*")

_TEXT = st.text(alphabet=st.sampled_from('az09_-.A/ \x7f~!"#\\%é\u0130\u212a'), max_size=70)


@given(_TEXT)
@example("a" * 63)
@example("a" * 64)
@example("-a")
@example("a-")
@example("")
def test_a_label_is_what_the_regex_matched(text: str) -> None:
    assert _netrules._is_label(text) == bool(LABEL.fullmatch(text))


@given(_TEXT)
def test_a_path_glob_holds_what_the_regex_allowed(text: str) -> None:
    path = "/" + text
    assert all(c in _netrules._PATH_CHARS for c in path) == bool(PATH.fullmatch(path))


@given(_TEXT)
def test_a_name_is_accepted_as_before(text: str) -> None:
    """``normalize_name`` with the old label check, as the oracle (the control: a name the
    regex refused is refused, one it matched is accepted)."""
    name = text.lower().removesuffix(".")
    expected = bool(name) and len(name) <= 253 and all(LABEL.fullmatch(p) for p in name.split("."))
    try:
        normalize_name(text)
    except ValueError:
        assert not expected
    else:
        assert expected


def test_control_the_checks_refuse_and_accept() -> None:
    assert parse_rule("Example.COM.").host == "example.com"
    assert parse_rule("GET example.com/a/*", allow=True).path == "/a/*"
    for bad in ("-a.com", "a-.com", "a" * 64 + ".com", "é.com"):
        try:
            parse_rule(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} was accepted")
