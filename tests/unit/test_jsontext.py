"""``bwsandbox._jsontext.dumps`` writes what ``json.dumps`` writes (the oracle) for the same
arguments, over generated values: every escape, both ``ensure_ascii`` modes, sorted keys,
non-string keys, the ``default`` hook, floats including NaN and infinities."""

from __future__ import annotations

import enum
import json
import math

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bwsandbox._jsontext import dumps


class Mode(enum.Enum):
    A = "a"


class Name(enum.StrEnum):
    X = "x\n"


TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]) | st.sampled_from('"\\\x7f')
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | TEXT
    | st.sampled_from([Mode.A, Name.X])
)
KEYS = TEXT | st.integers() | st.booleans() | st.none() | st.floats(allow_nan=False)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(TEXT, inner, max_size=4)
    ),
    max_leaves=12,
)
OPTIONS = st.fixed_dictionaries(
    {
        "separators": st.sampled_from([(", ", ": "), (",", ":")]),
        "ensure_ascii": st.booleans(),
        "sort_keys": st.booleans(),
    }
)


@settings(max_examples=400)
@given(VALUES, OPTIONS)
@example({"b": 1, "a": [1.5, None, True]}, {"sort_keys": True})
@example("\U0001f600\u2028\x00\x1f\x7f é", {})
def test_dumps_is_json_dumps(value: object, options: dict[str, object]) -> None:
    assert dumps(value, default=str, **options) == json.dumps(value, default=str, **options)  # type: ignore[arg-type]


@settings(max_examples=200)
@given(st.dictionaries(KEYS, SCALARS, max_size=5), st.booleans())
def test_non_string_keys_as_json_writes_them(table: dict[object, object], ascii_only: bool) -> None:
    expected = json.dumps(table, default=str, ensure_ascii=ascii_only)
    assert dumps(table, default=str, ensure_ascii=ascii_only) == expected


def test_no_default_refuses_what_json_refuses() -> None:
    for value in (Mode.A, {1j: 1}, object()):
        with pytest.raises(TypeError) as ours:
            dumps(value)
        with pytest.raises(TypeError) as theirs:
            json.dumps(value)
        assert str(ours.value) == str(theirs.value)


def test_floats() -> None:
    for value in (math.nan, math.inf, -math.inf, 0.1, -0.0, 1e300):
        assert dumps([value]) == json.dumps([value])


@pytest.mark.parametrize("name", ["base", "claude", "browser", "ssh-example", "user-tools"])
def test_the_policy_digest_text_is_json_dumps_text(name: str) -> None:
    """The digest names a resolved policy everywhere: its canonical text is json's, byte for
    byte (a digest computed before this module existed still names the same policy)."""
    from bwsandbox.policy import load_policy
    from bwsandbox.policy._digest import canonical_policy
    from bwsandbox.policy._render import policy_as_dict

    policy = load_policy([name])
    expected = json.dumps(
        policy_as_dict(policy), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    assert canonical_policy(policy) == expected.encode("utf-8")
