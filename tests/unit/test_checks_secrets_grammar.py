"""The hand-written secret-name and header-name checks accept exactly what their regexes do
(``_NAME``, ``_HEADER``: kept as the oracle). They replace ``re`` on the agent start-up path."""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bwsandbox._errors import PolicyError
from bwsandbox.policy import _checks_secrets as checks
from bwsandbox.policy._checks import Invalid

#: the characters near the grammar: its own, their neighbours, non-ASCII letters and digits
#: (``str.isalnum`` would take those), spaces and controls
_ALPHABET = string.printable + "éßΩ٣²\u00a0\u0000\t"


@given(st.text(alphabet=_ALPHABET, max_size=70))
def test_secret_name_as_the_regex(text: str) -> None:
    assert checks._is_secret_name(text) == bool(re.fullmatch(checks._NAME, text))


@given(st.text(alphabet=_ALPHABET, max_size=20))
def test_header_name_as_the_regex(text: str) -> None:
    assert checks._is_header_name(text) == bool(re.fullmatch(checks._HEADER, text))


@given(st.integers(min_value=0, max_value=70))
def test_secret_name_length_bounds(length: int) -> None:
    text = "a" * length
    assert checks._is_secret_name(text) == (1 <= length <= 63)
    assert bool(re.fullmatch(checks._NAME, text)) == (1 <= length <= 63)


def test_the_checks_refuse_what_the_helpers_refuse() -> None:
    """The policy checks use the helpers: a bad name or header is refused."""
    for bad in ("", "-x", "a b", "é", "a" * 64):
        with pytest.raises(Invalid):
            checks.check_secret_name(bad)
    assert checks.check_secret_name("anthropic_api_key") == "anthropic_api_key"
    assert checks._check_header("x-api-key") == "x-api-key"
    for bad in ("", "x api", "x:y", "host", "é"):
        with pytest.raises(Invalid):
            checks._check_header(bad)


def test_a_policy_with_a_bad_secret_name_is_refused() -> None:
    from bwsandbox.policy import read_overlays

    table = {"source": "env:K", "deliver": "env", "env": "K"}
    with pytest.raises(PolicyError, match="secret name"):
        read_overlays([("t", {"secrets": {"bad name": table}})])
