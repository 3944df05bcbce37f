"""The hand-written XDG lookup (``_paths.xdg_home``) against platformdirs, its oracle.

``_paths`` computes the config and data dirs itself because importing platformdirs cost
7.8 ms of start-up (see the module docstring); platformdirs stays a dev dependency to check
that the two agree for every environment: ``HOME`` absent, empty, relative, absolute (with
trailing or doubled slashes), the XDG variables absent, empty, relative or absolute, and the
password database's home absolute, relative or missing. Where platformdirs fails (no
absolute home), ours fails too, with a WorkspaceError.
"""

from __future__ import annotations

import os
import pwd

import platformdirs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bwsandbox import _paths
from bwsandbox._errors import WorkspaceError

_SEGMENT = st.sampled_from(["home", "u", "a b", ".x", "..", "é", "x\ny"])


@st.composite
def _path(draw: st.DrawFn, *, absolute: bool) -> str:
    parts = draw(st.lists(_SEGMENT, max_size=3))
    text = "/".join(parts)
    if absolute:
        text = draw(st.sampled_from(["/", "//"])) + text
    return text + draw(st.sampled_from(["", "/", "//"]))


_VALUE = st.one_of(
    st.none(),
    st.just(""),
    st.just(" "),
    _path(absolute=False),
    _path(absolute=True),
)
_PW_HOME = st.one_of(st.none(), _path(absolute=True), _path(absolute=False))
_NAMES = ("HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME")


def _outcome(call: object) -> tuple[str, str]:
    try:
        return ("ok", call())  # type: ignore[operator]
    except (RuntimeError, WorkspaceError):
        return ("error", "")


@settings(max_examples=400, deadline=None)
@given(
    values=st.fixed_dictionaries(dict.fromkeys(_NAMES, _VALUE)),
    pw_home=_PW_HOME,
)
def test_config_and_data_dirs_agree_with_platformdirs(
    values: dict[str, str | None], pw_home: str | None
) -> None:
    real = pwd.getpwuid

    def getpwuid(uid: int) -> pwd.struct_passwd:
        if pw_home is None:
            raise KeyError(uid)
        entry = list(real(uid))
        entry[5] = pw_home
        return pwd.struct_passwd(entry)

    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("AGENT_SANDBOX_CONFIG_DIR", raising=False)
        patch.delenv("AGENT_SANDBOX_DATA_DIR", raising=False)
        for name, value in values.items():
            if value is None:
                patch.delenv(name, raising=False)
            else:
                patch.setenv(name, value)
        patch.setattr(pwd, "getpwuid", getpwuid)
        ours = (_outcome(_paths.config_dir), _outcome(_paths.data_dir))
        oracle = (
            _outcome(lambda: platformdirs.user_config_dir("agent-sandbox")),
            _outcome(lambda: platformdirs.user_data_dir("agent-sandbox")),
        )
    assert ours == oracle, values


def test_the_usual_case() -> None:
    environ = {"HOME": "/home/u"}
    assert _paths.xdg_home("XDG_CONFIG_HOME", ".config", environ) == "/home/u/.config"
    environ["XDG_DATA_HOME"] = "/data"
    assert _paths.xdg_home("XDG_DATA_HOME", ".local/share", environ) == "/data"


def test_the_start_up_path_does_not_import_platformdirs() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from bwsandbox import _paths; _paths.config_dir(); _paths.data_dir()\n"
        "assert 'platformdirs' not in sys.modules"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENT_SANDBOX_")}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
