"""mkdocs hooks for the docs site (``hooks:`` in mkdocs.yml).

Several pages are written by several people at once, so the site must build whichever of
them exist yet, and still fail (``mkdocs build --strict``) on a real broken link:

- the nav lists one of the :data:`UPCOMING` pages only when its file exists
  (``docs/secrets.md`` appears once written);
- a link to one of the :data:`UPCOMING` pages that does not exist yet becomes plain text
  marked "(in progress)";
- a link to a file of the repository outside ``docs/`` (``../README.md``, ``../policies/``)
  becomes a link to the repository when ``repo_url`` is set, else its path as code.

Any other link to a missing file is left alone, so strict mode still reports it.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

#: pages other contributors are writing; a link to one that is missing is not an error
UPCOMING = frozenset(
    {
        "audit.md",
        "limits.md",
        "recording.md",
        "seccomp.md",
        "secrets.md",
        "sessions.md",
        "ssh.md",
        "worktrees.md",
    }
)

_LINK = re.compile(r"(?<!!)\[(?P<text>[^\]\n]+)\]\((?P<target>[^)\s]+)\)")
_FENCE = re.compile(r"^(```|~~~)")


def _prune(nav: Any, docs: Path) -> Any:
    if isinstance(nav, list):
        items = [_prune(item, docs) for item in nav]
        return [item for item in items if item not in (None, [], {})]
    if isinstance(nav, dict):
        out = {key: _prune(value, docs) for key, value in nav.items()}
        return {key: value for key, value in out.items() if value not in (None, [], {})}
    if isinstance(nav, str) and posixpath.basename(nav) in UPCOMING:
        return nav if (docs / nav).is_file() else None
    return nav  # anything else stays, so a typo still fails the strict build


def on_config(config: Any) -> Any:
    docs = Path(config["docs_dir"])
    if config.get("nav"):
        config["nav"] = _prune(config["nav"], docs)
    return config


def _rewrite(match: re.Match[str], page_dir: str, docs: Path, repo_url: str) -> str:
    text, target = match.group("text"), match.group("target")
    if "://" in target or target.startswith(("#", "mailto:")):
        return match.group(0)
    path = target.partition("#")[0]
    resolved = posixpath.normpath(posixpath.join(page_dir, path))
    if resolved.startswith("../"):
        repo_path = resolved[3:]
        if not (docs.parent / repo_path).exists():
            return match.group(0)
        if repo_url:
            kind = "tree" if (docs.parent / repo_path).is_dir() else "blob"
            return f"[{text}]({repo_url.rstrip('/')}/{kind}/main/{repo_path})"
        same = text.strip("`").rstrip("/") == repo_path.rstrip("/")
        return text if same else f"{text} (`{repo_path}`)"
    if posixpath.basename(resolved) in UPCOMING and not (docs / resolved).is_file():
        return f"{text} (in progress)"
    return match.group(0)


def on_page_markdown(markdown: str, *, page: Any, config: Any, **_: Any) -> str:
    docs = Path(config["docs_dir"])
    page_dir = posixpath.dirname(page.file.src_uri)
    repo_url = config.get("repo_url") or ""
    out = []
    fenced = False
    for line in markdown.split("\n"):
        if _FENCE.match(line.lstrip()):
            fenced = not fenced
        rewritten = line
        if not fenced:
            rewritten = _LINK.sub(lambda m: _rewrite(m, page_dir, docs, repo_url), line)
        out.append(rewritten)
    return "\n".join(out)
