"""The hand-written matchers that replaced regexes compiled at import on the start-up path
agree with the regex (or fnmatch) they replace, which serves as the oracle (STYLE 16)."""

from __future__ import annotations

import fnmatch
import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from bwsandbox.compile._step_env import env_match
from bwsandbox.policy._checks import Invalid, _is_label, check_env_glob, is_env_name, key_join
from bwsandbox.policy._load import _is_name
from bwsandbox.policy._vars import _VAR, _tokens

#: ASCII and a few characters each class must refuse (a newline: ``$`` would allow one)
TEXT = st.text(alphabet="aZ09_-.*?[]!{}@ /\n\té\u0660", max_size=12)


@settings(max_examples=500)
@given(TEXT)
@example("")
@example("a\n")
@example("\u0660")  # a Unicode digit: str.isdigit() says yes, [0-9] says no
def test_character_classes_match_their_regex(text: str) -> None:
    assert _is_name(text) == bool(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", text))
    assert is_env_name(text) == bool(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text))
    assert _is_label(text) == bool(re.fullmatch(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)", text))
    bare = bool(re.fullmatch(r"[A-Za-z0-9_-]+", text))
    assert (key_join("", text) == text) == bare
    glob = bool(re.fullmatch(r"[A-Za-z0-9_*?\[\]!]+", text)) and not text[0].isdigit()
    try:
        check_env_glob(text)
        accepted = True
    except Invalid:
        accepted = False
    assert accepted == glob


def test_a_label_is_at_most_63_characters() -> None:
    assert _is_label("a" * 63)
    assert not _is_label("a" * 64)


@settings(max_examples=500)
@given(st.text(alphabet="{}ab_1-", max_size=14))
@example("{a}}")
@example("{}}")
@example("{{a}")
def test_the_variable_scanner_finds_what_the_regex_finds(template: str) -> None:
    expected = [(m.start(), m.end(), m.group(0), m.group(1)) for m in re.finditer(_VAR, template)]
    assert list(_tokens(template)) == expected


GLOB_PATTERN = st.text(alphabet="AB_*?[]!", min_size=1, max_size=6)


@settings(max_examples=500)
@given(st.text(alphabet="AB_[]!*?\n", max_size=6), GLOB_PATTERN)
@example("LC_ALL", "LC_*")
@example("LC_", "LC_*")
@example("TERM", "TERM")
@example("TERMX", "TERM")
@example("A\nB", "A*")
def test_env_match_is_fnmatchcase(name: str, pattern: str) -> None:
    assert env_match(name, pattern) == fnmatch.fnmatchcase(name, pattern)


@settings(max_examples=300)
@given(TEXT)
@example("a" * 64)
@example("a" * 65)
@example("..")
def test_client_names_match_their_regex(text: str) -> None:
    from bwsandbox._paths import valid_client_name

    expected = bool(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", text))
    assert valid_client_name(text) == (expected and text not in {".", ".."})


def test_a_client_name_with_a_trailing_newline_is_refused() -> None:
    """The regex this replaced (``re.match`` with ``$``) accepted ``"work\\n"``."""
    from bwsandbox._paths import valid_client_name

    assert re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", "work\n"), "control: the old check"
    assert not valid_client_name("work\n")
    assert valid_client_name("work")
