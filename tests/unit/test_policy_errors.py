"""Every kind of policy error names the file, the key path and what was expected, with a hint."""

from __future__ import annotations

from pathlib import Path

import pytest

from bwsandbox import PolicyError
from bwsandbox.policy import load_policy, load_policy_file


def _fail(tmp_path: Path, text: str, name: str = "bad") -> PolicyError:
    path = tmp_path / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        load_policy([name], search_dirs=[str(tmp_path)])
    assert info.value.file == str(path)
    return info.value


# (policy text, key path, words in the message, words in the hint or None for no hint)
BAD: list[tuple[str, str | None, str, str | None]] = [
    # unknown keys, at every level
    ('descripton = "x"', "descripton", "unknown key 'descripton'", "did you mean 'description'?"),
    ("ro = []", "ro", "unknown key 'ro'", "put it under [filesystem]"),
    (
        "zzz = 1",
        "zzz",
        "unknown key 'zzz'",
        "expected one of: extends, description, secrets, filesystem",
    ),
    ('[network]\nmod = "none"', "network.mod", "unknown key 'mod' in [network]", "'mode'"),
    ("[filesystem]\nallow = []", "filesystem.allow", "unknown key", "allow belongs in [network]"),
    ("[env]\nqqq = 1", "env.qqq", "unknown key 'qqq' in [env]", "expected one of: passthrough"),
    (
        '[filesystem]\nro = [{ src = "/x", dst = "/y" }]',
        "filesystem.ro[0].dst",
        "unknown key 'dst' in a bind",
        "did you mean 'dest'?",
    ),
    # wrong types (a boolean is not an integer, an integer is not a boolean)
    ('filesystem = "x"', "filesystem", "expected a table of settings, got the string 'x'", None),
    ("[hardening]\nuid = true", "hardening.uid", "expected a user id (an integer)", None),
    ("[hardening]\nshare_pid = 1", "hardening.share_pid", "got the integer 1", None),
    ('[hardening]\nshare_pid = "yes"', "hardening.share_pid", "expected a boolean", None),
    ('[filesystem]\nro = "/usr"', "filesystem.ro", "expected an array", 'write ro = ["/usr"]'),
    ('extends = "base"', "extends", "expected an array", 'write extends = ["base"]'),
    ("[filesystem]\nro = [3]", "filesystem.ro[0]", "got the integer 3", None),
    ("[filesystem]\nro = [1.5]", "filesystem.ro[0]", "got the float 1.5", None),
    ("[filesystem]\ntmpfs = [1979-05-27]", "filesystem.tmpfs[0]", "got the date/time", None),
    ("[env]\nset = []", "env.set", "expected a table of name = value, got an array", None),
    ("[env.set]\nX = 3", "env.set.X", "expected a string, got the integer 3", None),
    ('[command]\nargv = "/bin/sh"', "command.argv", "expected an array of strings", None),
    ('[command]\nargv = ["/bin/sh", 2]', "command.argv[1]", "got the integer 2", None),
    (
        '[filesystem]\nro = [{ src = "/x", optional = "no" }]',
        "filesystem.ro[0].optional",
        "boolean",
        None,
    ),
    # empty strings
    ('description = ""', "description", "got an empty string", "remove the key instead"),
    ('[filesystem]\nmask = [""]', "filesystem.mask[0]", "got an empty string", "remove the key"),
    ('[command]\nargv = ["", "x"]', "command.argv[0]", "expected a command name", None),
    ('extends = [""]', "extends[0]", "got an empty string", None),
    # paths
    ('[filesystem]\nrw = ["relative/x"]', "filesystem.rw[0]", "expected an absolute path", None),
    ('[filesystem]\nro = ["{user}/x"]', "filesystem.ro[0]", "one starting with {project}", None),
    ('[filesystem]\nro = ["{project}x"]', "filesystem.ro[0]", "expected an absolute path", None),
    ('[filesystem]\nrw = ["{project}/../x"]', "filesystem.rw[0]", "without '..'", None),
    ('[filesystem]\nro = ["{proj}/x"]', "filesystem.ro[0]", "unknown variable {proj}", "{project}"),
    ('[filesystem]\nro = ["/{zzzzz}"]', "filesystem.ro[0]", "unknown variable", "known variables"),
    ('[filesystem]\nro = ["/a}b"]', "filesystem.ro[0]", "stray '}'", "write {{ or }}"),
    ('[filesystem]\nro = [{ src = "x" }]', "filesystem.ro[0].src", "absolute path", None),
    ('[filesystem]\nro = [{ src = "/x", dest = "y" }]', "filesystem.ro[0].dest", "absolute", None),
    ("[filesystem]\nro = [{ optional = true }]", "filesystem.ro[0]", "needs src", "src ="),
    ('[filesystem]\netc = ["hosts"]', "filesystem.etc[0]", "under /etc", "write '/etc/hosts'"),
    ('[filesystem]\netc = ["/etc"]', "filesystem.etc[0]", "under /etc", "never bound"),
    ('[filesystem]\netc = ["/usr/x"]', "filesystem.etc[0]", "under /etc", None),
    ('[command]\ncwd = "src"', "command.cwd", "expected an absolute path", None),
    ('[env.set]\nX = "{nope}"', "env.set.X", "unknown variable {nope}", "known variables"),
    ('[command]\nargv = ["/bin/sh", "{x"]', "command.argv[1]", "stray '{'", None),
    # choices and formats
    ('[filesystem]\nhome = "host"', "filesystem.home", "'private' or 'tmpfs'", "host home"),
    ('[filesystem]\nhome = "privat"', "filesystem.home", "got 'privat'", "'private'"),
    ('[filesystem]\ntmp_size = "lots"', "filesystem.tmp_size", "a size such as '512M'", None),
    ('[network]\nmode = "filter"', "network.mode", "none, host or filtered", "'filtered'"),
    ('[network]\nmode = "wide"', "network.mode", "got 'wide'", "none|host|filtered"),
    ('[hardening]\nhostname = "my host"', "hardening.hostname", "a host name", None),
    ('[hardening]\nhostname = "-x"', "hardening.hostname", "a host name", None),
    ("[hardening]\nuid = 0", "hardening.uid", "uid 0 (root)", "omit hardening.uid"),
    ("[hardening]\nuid = -5", "hardening.uid", "between 1 and", None),
    ("[hardening]\nuid = 4294967295", "hardening.uid", "between 1 and", None),
    # environment names
    ('[env]\npassthrough = ["A-B"]', "env.passthrough[0]", "variable name or glob", None),
    ('[env]\npassthrough = ["1X"]', "env.passthrough[0]", "variable name or glob", None),
    ('[env]\npassthrough = ["*"]', "env.passthrough[0]", "whole host environment", "list the"),
    ('[env]\nunset = ["A B"]', "env.unset[0]", "variable name or glob", None),
    ('[env.set]\n"A.B" = "x"', 'env.set."A.B"', "environment variable name", None),
    ('[env.set]\n"X*" = "x"', 'env.set."X*"', "environment variable name", None),
    ('[env.set]\n"X" = "a\\u0000b"', "env.set.X", "without NUL", None),
    # network rules and hosts
    (
        '[network]\nmode = "filtered"\nallow = ["ok.com", "x.org", "exa mple.com"]',
        "network.allow[2]",
        "'exa mple.com'",  # the wording is the rule grammar's (bwsandbox._netrules)
        None,
    ),
    ('[network]\nmode = "filtered"\ndeny = [""]', "network.deny[0]", "empty string", None),
    # inspecting rules (methods and/or a path glob): allow rules for names only
    (
        '[network]\nmode = "filtered"\nallow = ["GET x.org/a/../b"]',
        "network.allow[0]",
        "dot segment",
        None,
    ),
    (
        '[network]\nmode = "filtered"\nallow = ["GET! x.org/a"]',
        "network.allow[0]",
        "not an HTTP method",
        None,
    ),
    (
        '[network]\nmode = "filtered"\nallow = ["GET 10.0.0.1/a"]',
        "network.allow[0]",
        "for host names",
        None,
    ),
    (
        '[network]\nmode = "filtered"\ndeny = ["POST x.org/a"]',
        "network.deny[0]",
        "only allow rules take methods or a path",
        None,
    ),
    (
        '[network]\nmode = "filtered"\nupstream_ca_file = "ca.pem"',
        "network.upstream_ca_file",
        "an absolute path",
        None,
    ),
    (
        '[network]\nmode = "filtered"\nadd_hosts = { "db.internal" = "10.0.0.300" }',
        'network.add_hosts."db.internal"',
        "expected an IP address",
        None,
    ),
    (
        '[network]\nmode = "filtered"\nadd_hosts = { "bad_name" = "10.0.0.3" }',
        "network.add_hosts.bad_name",
        "expected a host name",
        None,
    ),
    (
        '[network]\nmode = "filtered"\nadd_hosts = { "10.0.0.4" = "10.0.0.3" }',
        'network.add_hosts."10.0.0.4"',
        "got the address '10.0.0.4'",
        None,
    ),
    # impossible combinations
    (
        '[network]\nallow = ["example.com"]',
        "network.allow[0]",
        'the mode is "none" (the default)',
        'set network.mode = "filtered"',
    ),
    (
        '[network]\nmode = "host"\ndeny = ["example.com"]',
        "network.deny[0]",
        'the mode is "host" (set in this layer)',
        'set network.mode = "filtered"',
    ),
    (
        '[network]\nmode = "none"\nadd_hosts = { db = "10.0.0.5" }',
        "network.add_hosts.db",
        "network rules need",
        'set network.mode = "filtered"',
    ),
    (
        '[filesystem]\nro = ["/x"]\nrw = ["/x"]',
        "filesystem.rw[0]",
        "'/x' is already bound by filesystem.ro[0]",
        "bind each destination once",
    ),
    (
        '[filesystem]\nro = ["/x", { src = "/y", dest = "/x" }]',
        "filesystem.ro[1]",
        "already bound by filesystem.ro[0]",
        None,
    ),
    (
        '[env]\nunset = ["*_TOKEN"]\nset = { GH_TOKEN = "x" }',
        "env.set.GH_TOKEN",
        "removed again by env.unset '*_TOKEN'",
        "drop one of them",
    ),
    ('[filesystem]\nremove = ["/usr"]', "filesystem.remove[0]", "matches no destination", None),
]


@pytest.mark.parametrize(("text", "key", "message", "hint"), BAD)
def test_bad_policy(
    tmp_path: Path, text: str, key: str | None, message: str, hint: str | None
) -> None:
    error = _fail(tmp_path, text + "\n")
    assert error.key == key
    assert message in error.message
    if hint is None:
        return
    assert error.hint is not None
    assert hint in error.hint


def test_message_reads_as_one_line(tmp_path: Path) -> None:
    error = _fail(
        tmp_path, '[network]\nmode = "filtered"\nallow = ["a.com", "b.com", "exa mple.com"]\n'
    )
    text = str(error)
    assert text.startswith(f"{tmp_path / 'bad.toml'}: network.allow[2]: ")
    assert text.count("'exa mple.com'") == 1
    assert "\n" not in text


def test_rule_grammar_errors_are_converted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def parse_rule(text: str, *, allow: bool = False) -> str:
        raise ValueError("expected host, host:port, *.domain, IP or CIDR")

    monkeypatch.setattr("bwsandbox._netrules.parse_rule", parse_rule)
    error = _fail(tmp_path, '[network]\nmode = "filtered"\nallow = ["exa mple.com"]\n')
    assert str(error) == (
        f"{tmp_path / 'bad.toml'}: network.allow[0]: "
        "expected host, host:port, *.domain, IP or CIDR, got 'exa mple.com'"
    )
    assert isinstance(error.__cause__, ValueError)


def test_toml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    error = _fail(tmp_path, 'description = "x"\n[network]\nmode = \n')
    assert error.key is None
    assert error.message.startswith("invalid TOML at line 3, column 8: ")


def test_toml_error_at_end_of_document(tmp_path: Path) -> None:
    error = _fail(tmp_path, "[network]\nmode = ")
    assert error.message == "invalid TOML at end of document: Invalid value"


def test_duplicate_toml_key_is_a_syntax_error(tmp_path: Path) -> None:
    error = _fail(tmp_path, '[network]\nmode = "none"\nmode = "host"\n')
    assert "invalid TOML at line 3" in error.message


def test_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_bytes(b'description = "\xff"\n')
    with pytest.raises(PolicyError, match="not UTF-8"):
        load_policy(["bad"], search_dirs=[str(tmp_path)])


def test_unreadable_file_is_a_policy_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "locked.toml").write_text("", encoding="utf-8")

    def refuse(path: str) -> bytes:
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr("bwsandbox.policy._load._read_bytes", refuse)
    with pytest.raises(PolicyError) as info:
        load_policy([str(tmp_path / "locked.toml")])
    assert info.value.message == "cannot read the policy: Permission denied"
    assert info.value.file == str(tmp_path / "locked.toml")
    assert isinstance(info.value.__cause__, PermissionError)


def test_missing_file_ref(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as info:
        load_policy([str(tmp_path / "nope.toml")])
    assert str(info.value) == f"{tmp_path / 'nope.toml'}: no such policy file"


def test_long_values_are_shortened(tmp_path: Path) -> None:
    error = _fail(tmp_path, f'[filesystem]\nro = ["{"x" * 300}"]\n')
    assert len(str(error)) < 400
    assert "..." in error.message


def test_error_in_an_extended_file_names_that_file(tmp_path: Path) -> None:
    (tmp_path / "lower.toml").write_text('[network]\nmode = "wide"\n', encoding="utf-8")
    (tmp_path / "upper.toml").write_text('extends = ["lower"]\n', encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        load_policy(["upper"], search_dirs=[str(tmp_path)])
    assert info.value.file == str(tmp_path / "lower.toml")
    assert info.value.key == "network.mode"


def test_conflict_is_blamed_on_the_layer_that_adds_rules(tmp_path: Path) -> None:
    (tmp_path / "lower.toml").write_text('[network]\nmode = "host"\n', encoding="utf-8")
    (tmp_path / "upper.toml").write_text(
        'extends = ["lower"]\n[network]\nallow = ["a.com"]\n', encoding="utf-8"
    )
    with pytest.raises(PolicyError) as info:
        load_policy(["upper"], search_dirs=[str(tmp_path)])
    assert info.value.file == str(tmp_path / "upper.toml")
    assert info.value.key == "network.allow[0]"
    assert f"set in {tmp_path / 'lower.toml'}" in info.value.message


def test_env_conflict_is_blamed_on_the_later_layer(tmp_path: Path) -> None:
    (tmp_path / "lower.toml").write_text('[env.set]\nGH_TOKEN = "x"\n', encoding="utf-8")
    (tmp_path / "upper.toml").write_text(
        'extends = ["lower"]\n[env]\nunset = ["GH_*"]\n', encoding="utf-8"
    )
    with pytest.raises(PolicyError) as info:
        load_policy(["upper"], search_dirs=[str(tmp_path)])
    assert info.value.file == str(tmp_path / "upper.toml")
    assert info.value.key == "env.unset[0]"
    assert str(tmp_path / "lower.toml") in info.value.message


def test_remove_typo_gets_a_hint(tmp_path: Path) -> None:
    (tmp_path / "lower.toml").write_text('[filesystem]\nro = ["/opt/tools"]\n', encoding="utf-8")
    (tmp_path / "upper.toml").write_text(
        'extends = ["lower"]\n[filesystem]\nremove = ["/opt/tool"]\n', encoding="utf-8"
    )
    with pytest.raises(PolicyError) as info:
        load_policy(["upper"], search_dirs=[str(tmp_path)])
    assert info.value.key == "filesystem.remove[0]"
    assert info.value.hint == "did you mean '/opt/tools'?"


def test_overlay_errors_name_the_overlay(tmp_path: Path) -> None:
    (tmp_path / "base.toml").write_text("", encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        load_policy(
            ["base"],
            overlays=[("command line", {"network": {"allow": ["a.com"]}})],
            search_dirs=[str(tmp_path)],
        )
    assert str(info.value) == (
        'command line: network.allow[0]: network rules need network.mode = "filtered", '
        'but the mode is "none" (the default) (set network.mode = "filtered")'
    )


def test_overlay_values_need_not_come_from_toml() -> None:
    with pytest.raises(PolicyError) as info:
        load_policy([], overlays=[("command line", {"network": {"mode": None}})])
    assert info.value.key == "network.mode"
    assert info.value.message == "expected none, host or filtered, got nothing (None)"


def test_overlay_cannot_extend(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as info:
        load_policy([], overlays=[("command line", {"extends": ["base"]})], search_dirs=[])
    assert info.value.file == "command line"
    assert info.value.key == "extends"


def test_overlay_values_are_checked_like_files() -> None:
    with pytest.raises(PolicyError) as info:
        load_policy([], overlays=[("command line", {"filesystem": {"ro": ["rel"]}})])
    assert info.value.file == "command line"
    assert info.value.key == "filesystem.ro[0]"


def test_check_file_reports_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="no such policy file") as info:
        load_policy_file(str(tmp_path / "nope.toml"))
    assert info.value.file == str(tmp_path / "nope.toml")
