"""Fixtures for agent tests: fake host homes and PATH trees, fake npm packages.

``fake_host`` builds a host home in tmp_path with no agent anywhere the discovery looks on the
real system (the system bin dirs and the shared cache are redirected into tmp_path).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bwsandbox.agents import _discover


@dataclass
class FakeHost:
    """A fake host: ``home``, a ``PATH`` of tmp dirs, and helpers to install agents."""

    root: Path
    home: Path
    path_dirs: list[Path] = field(default_factory=list)
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def environ(self) -> dict[str, str]:
        env = {
            "HOME": str(self.home),
            "USER": "alice",
            "PATH": ":".join(str(d) for d in self.path_dirs),
        }
        env.update(self.extra)
        return env

    def executable(self, path: Path, content: str = "#!/bin/sh\necho fake\n") -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        path.chmod(0o755)
        return path

    def npm_package(
        self,
        node_modules: Path,
        name: str,
        *,
        bin_name: str,
        bin_path: str = "cli.js",
        dependencies: dict[str, str] | None = None,
        optional: dict[str, str] | None = None,
        script: str = "#!/usr/bin/env node\nconsole.log('fake')\n",
    ) -> Path:
        """An installed npm package ``name`` in ``node_modules`` with ``.bin/<bin_name>``."""
        package = node_modules / name
        package.mkdir(parents=True, exist_ok=True)
        meta: dict[str, object] = {"name": name, "version": "1.0.0", "bin": {bin_name: bin_path}}
        if dependencies:
            meta["dependencies"] = dependencies
        if optional:
            meta["optionalDependencies"] = optional
        (package / "package.json").write_text(json.dumps(meta))
        self.executable(package / bin_path, script)
        link = node_modules / ".bin" / bin_name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(package / bin_path, link.parent))
        return package


@pytest.fixture
def fake_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeHost:
    system = tmp_path / "system"
    monkeypatch.setattr(_discover, "_SYSTEM_BIN_DIRS", (str(system / "usr-bin"),))
    monkeypatch.setattr(_discover, "_SYSTEM_CACHE", str(system / "cache"))
    home = tmp_path / "home" / "alice"
    home.mkdir(parents=True)
    return FakeHost(root=tmp_path, home=home)
