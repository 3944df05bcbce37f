"""Positive controls: the everyday tools of a coding agent work in the default sandbox."""

from __future__ import annotations

import shutil
import subprocess
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pathlib import Path

    from .conftest import SandboxRunner

pytestmark = [pytest.mark.bwrap, pytest.mark.userns]

GIT_ID = "-c user.name=agent -c user.email=agent@example.invalid"


def test_git_init_and_commit_in_a_new_project(sbx: SandboxRunner, project: Path) -> None:
    result = sbx.sh(
        f"git init -q && echo a > a.txt && git add a.txt && git {GIT_ID} commit -qm first && "
        f"echo b >> a.txt && git {GIT_ID} commit -qam second && git log --format=%s"
    )
    assert result.returncode == 0, result.describe()
    assert result.stdout.split() == ["second", "first"]
    host = subprocess.run(
        ["git", "-C", str(project), "log", "--format=%s"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert host.stdout.split() == ["second", "first"], host.stderr


def test_git_works_in_an_existing_repository(sbx: SandboxRunner, git_project: Path) -> None:
    result = sbx.sh(
        f"echo more >> README && git status --short && git {GIT_ID} commit -qam change && "
        "git log --oneline | wc -l && git branch -q topic && git checkout -q topic && "
        "git stash list && git diff HEAD~1 --stat"
    )
    assert result.returncode == 0, result.describe()
    assert " M README" in result.stdout
    assert "2" in result.stdout.split()


def test_python_runs_and_writes_in_the_project(sbx: SandboxRunner, project: Path) -> None:
    result = sbx.py(
        "import pathlib, sys, tempfile\n"
        "pathlib.Path('out.txt').write_text(str(sum(range(10))))\n"
        "tempfile.TemporaryFile().close()\n"
        "print(sys.version_info[0])\n"
    )
    assert result.returncode == 0, result.describe()
    assert result.stdout.strip() == "3"
    assert (project / "out.txt").read_text() == "45"


def test_c_compiler_builds_and_runs(sbx: SandboxRunner, project: Path) -> None:
    assert shutil.which("gcc"), "gcc is needed (apt-get install gcc)"
    (project / "hello.c").write_text(
        '#include <stdio.h>\nint main(void) { printf("hello from C\\n"); return 0; }\n'
    )
    result = sbx.sh("gcc -O1 -o hello hello.c && ./hello")
    assert result.returncode == 0, result.describe()
    assert result.stdout == "hello from C\n"
    assert (project / "hello").is_file()


def test_sed_in_place_edits_a_file(sbx: SandboxRunner, project: Path) -> None:
    (project / "notes.txt").write_text("colour\nflavour\n")
    result = sbx.sh("sed -i 's/our$/or/' notes.txt")
    assert result.returncode == 0, result.describe()
    assert (project / "notes.txt").read_text() == "color\nflavor\n"


def test_vi_edits_a_file(sbx: SandboxRunner, project: Path) -> None:
    assert shutil.which("vi"), "vi is needed (apt-get install vim-tiny)"
    (project / "main.txt").write_text("hello world\n")
    result = sbx.sh("vi -e -s -c '%s/world/sandbox/' -c 'wq' main.txt < /dev/null")
    assert result.returncode == 0, result.describe()
    assert (project / "main.txt").read_text() == "hello sandbox\n"


def test_stdin_and_stdout_pass_through(sbx: SandboxRunner) -> None:
    result = sbx.run("tr", "a-z", "A-Z", input="piped text\n")
    assert result.returncode == 0, result.describe()
    assert result.stdout == "PIPED TEXT\n"


def test_private_home_and_tmp_are_writable(sbx: SandboxRunner) -> None:
    result = sbx.sh(
        'echo x > "$HOME/.testrc" && echo y > /tmp/t && cat "$HOME/.testrc" /tmp/t && pwd'
    )
    assert result.returncode == 0, result.describe()
    assert result.stdout.split()[:2] == ["x", "y"]
    assert result.stdout.split()[2] == str(sbx.project)
