"""The shipped policies' stored values (``bwsandbox/policy/_shipped.py``) are current, are
tomllib's, and are used only for a file whose text is exactly a stored text.

The oracle is ``tomllib`` itself: every stored value equals its parse of the stored text, and
for any text (the shipped files, and edits of them) the loader's parse equals tomllib's. The
control for "shipped policies load without tomllib" is an edited copy, which is parsed by
tomllib for real and whose edit takes effect.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bwsandbox._errors import PolicyError
from bwsandbox.policy._load import _parse, load_policy
from bwsandbox.policy._shipped import CHECKED, SHIPPED
from bwsandbox.policy._validate import read_layer

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "gen_shipped_policies.py"
FILES = sorted((REPO / "policies").glob("*.toml"))


def test_every_shipped_file_is_stored_once() -> None:
    texts = {path.read_text(encoding="utf-8") for path in FILES}
    assert set(SHIPPED) == texts, "run python scripts/gen_shipped_policies.py"
    assert len(SHIPPED) == len(FILES)


@pytest.mark.parametrize("text", list(SHIPPED), ids=[p.name for p in FILES])
def test_a_stored_value_is_tomllibs_parse_and_fresh_each_call(text: str) -> None:
    value = SHIPPED[text]()
    assert value == tomllib.loads(text)
    assert type(value) is dict
    again = SHIPPED[text]()
    assert again == value
    assert again is not value, "a caller may not share (and so mutate) another's table"


def _edits() -> st.SearchStrategy[str]:
    """A shipped text with a few characters changed, inserted or removed."""

    @st.composite
    def edit(draw: st.DrawFn) -> str:
        text = draw(st.sampled_from(sorted(SHIPPED)))
        for _ in range(draw(st.integers(1, 3))):
            at = draw(st.integers(0, len(text)))
            new = draw(st.sampled_from(["", "x", "1", '"', "=", "\n", "#", "[", " ", "é"]))
            cut = draw(st.integers(0, 2))
            text = text[:at] + new + text[at + cut :]
        return text

    return edit()


@settings(max_examples=200, deadline=None)
@given(_edits())
def test_the_loader_parses_any_text_as_tomllib_does(text: str) -> None:
    try:
        expected = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        with pytest.raises(PolicyError, match="invalid TOML"):
            _parse(text, "edited.toml")
        return
    assert _parse(text, "edited.toml") == expected


def _load_in_child(code: str) -> str:
    script = f"import sys\nfrom bwsandbox.policy import load_policy\n{code}\n"
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=REPO
    ).stdout


def test_shipped_policies_load_without_tomllib() -> None:
    out = _load_in_child(
        "for name in ('base', 'shell', 'claude'): load_policy([name])\n"
        "print('tomllib' in sys.modules, 'datetime' in sys.modules)"
    )
    assert out.split() == ["False", "False"]


def test_control_an_edited_copy_is_parsed_by_tomllib(tmp_path: Path) -> None:
    """The same shipped text with one value changed: tomllib parses it and the edit counts."""
    text = (REPO / "policies" / "shell.toml").read_text(encoding="utf-8")
    edited = tmp_path / "shell.toml"
    edited.write_text(text.replace('description = "', 'description = "EDITED '), "utf-8")
    assert edited.read_text(encoding="utf-8") not in SHIPPED
    out = _load_in_child(
        f"policy = load_policy([{str(edited)!r}])\n"
        "print('tomllib' in sys.modules, policy.description.startswith('EDITED'))"
    )
    assert out.split() == ["True", "True"]


# -- the stored checked layers (``CHECKED``): read_layer's result, not re-checked on a start


def test_every_shipped_text_has_its_checked_layer_stored() -> None:
    assert set(CHECKED) == set(SHIPPED)


@pytest.mark.parametrize("text", list(SHIPPED), ids=[p.name for p in FILES])
@pytest.mark.parametrize("source", ["/usr/share/x/base.toml", "rel/shell.toml", "é x.toml"])
def test_a_stored_layer_is_read_layers_result(text: str, source: str) -> None:
    """The oracle is the check itself, for any path the file is found at (the only input
    besides the text; it is named in errors, never checked)."""
    assert CHECKED[text](source) == read_layer(SHIPPED[text](), source)


def _checks_in_child(code: str) -> str:
    """Count ``read_layer`` calls while ``code`` loads policies, in a fresh process."""
    script = (
        "from bwsandbox.policy import _load, _validate\n"
        "calls = []\n"
        "real = _validate.read_layer\n"
        "_load.read_layer = lambda *a, **k: calls.append(a[1]) or real(*a, **k)\n"
        f"{code}\n"
        "print(len(calls))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=REPO
    ).stdout


def test_shipped_policies_load_without_rechecking() -> None:
    out = _checks_in_child("_load.load_policy(['claude'])")
    assert out.split() == ["0"]


def test_control_an_edited_copy_is_checked(tmp_path: Path) -> None:
    """One byte more in a shipped text: the file is checked for real, and a bad value fails."""
    text = (REPO / "policies" / "shell.toml").read_text(encoding="utf-8")
    edited = tmp_path / "shell.toml"
    edited.write_text(text + "\n", "utf-8")
    out = _checks_in_child(f"_load.load_policy([{str(edited)!r}])")
    assert out.split() == ["1"]
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace("[command]", "[network]\nmode = 'sometimes'\n[command]"), "utf-8")
    with pytest.raises(PolicyError, match=r"network\.mode"):
        load_policy([str(bad)])
