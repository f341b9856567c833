"""Every document the repository cites is in the repository: links in the README and docs/, and any
``*.md`` path named in code, comments or configuration."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.conftest import ROOT

# Files whose page paths are relative to docs/ (MkDocs' configuration and its hooks).
DOCS_RELATIVE = {ROOT / "mkdocs.yml", ROOT / "devstack" / "docs_hooks.py"}
URL = re.compile(r"[a-z][a-z0-9+.-]*://\S+", re.I)
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")
MD_PATH = re.compile(r"(?<![\w/.-])((?:\.{1,2}/)*[\w.-]+(?:/[\w.-]+)*\.md)(?![\w-])")


def tracked_text_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True)
    files = [ROOT / name for name in listed.stdout.splitlines()]
    suffixes = {".md", ".py", ".toml", ".yaml", ".yml", ".txt", ".cfg", ".ini", ".sh", ".json"}
    return [f for f in files if f.is_file() and (f.suffix in suffixes or f.name in {"Makefile", "run"})]


def resolves(source: Path, target: str) -> bool:
    target = target.split("#", 1)[0]
    if not target:
        return True  # an anchor in the same page
    candidates = [(source.parent / target).resolve(), (ROOT / target).resolve()]
    if source in DOCS_RELATIVE:
        candidates.append((ROOT / "docs" / target).resolve())
    inside = [c for c in candidates if c.is_relative_to(ROOT)]  # a file beside the clone is not in the repo
    return any(c.exists() for c in inside)


def missing_citations(source: Path, text: str) -> list[str]:
    """Document paths ``text`` (the content of ``source``) cites that exist nowhere in the repository."""
    missing = []
    if source.suffix == ".md":
        for target in MARKDOWN_LINK.findall(text):
            if not URL.match(target) and not target.startswith(("mailto:", "#")) and not resolves(source, target):
                missing.append(target.split("#", 1)[0])
    for cited in MD_PATH.findall(URL.sub(" ", text)):
        if not resolves(source, cited) and cited not in missing:
            missing.append(cited)
    return missing


def test_no_file_cites_a_document_that_is_not_in_the_repository() -> None:
    broken = {}
    for path in tracked_text_files():
        if path == Path(__file__):
            continue
        found = missing_citations(path, path.read_text(errors="replace"))
        if found:
            broken[str(path.relative_to(ROOT))] = found
    assert broken == {}


def test_the_check_catches_a_cited_document_that_is_missing() -> None:
    code = ROOT / "layers" / "payments_core" / "payments_core" / "example.py"
    outside = ".." + "/shared/docs/prices.md"  # a brief beside the repository, which its users do not have
    comment = "# Amounts as the " + "contract" + f".md says, see {outside} and docs/api.md#errors"
    assert missing_citations(code, comment) == ["contract.md", outside]
    page = ROOT / "docs" / "index.md"
    links = "[ops](operations.md) [gone](runbook.md#x) [api](api.md) [site](https://example.org/a.md)"
    assert missing_citations(page, links) == ["runbook.md"]
