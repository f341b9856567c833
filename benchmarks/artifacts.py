"""Each function's built code size and the layer's unzipped size, from `sam build`'s output."""

from __future__ import annotations

from pathlib import Path


def size(path: Path) -> int:
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file())


def measure(build_dir: Path) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for artifact in sorted(p for p in build_dir.iterdir() if p.is_dir()):
        rows.append({"artifact": artifact.name, "bytes": size(artifact)})
    return rows
