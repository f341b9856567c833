"""Asserts that `sam build` gave each function only its own code, and the layer the shared package.

Usage: python -m devstack.check_build .aws-sam/build
"""

from __future__ import annotations

import sys
from pathlib import Path

from devstack.template import Template

ROOT = Path(__file__).resolve().parent.parent
PYC_TAG = "cpython-313"  # the Lambda runtime's (python3.13) bytecode
UNCHECKED_HASH = 0b01


def problems(build_dir: Path) -> list[str]:
    template = Template(ROOT / "template.yaml")
    found = []
    for logical_id, spec in template.functions().items():
        artifact = build_dir / logical_id
        expected = {path.relative_to(spec.code_dir) for path in spec.code_dir.rglob("*.py")}
        built = {path.relative_to(artifact) for path in artifact.rglob("*") if path.is_file()}
        extra = sorted(str(path) for path in built - expected if path.name != "requirements.txt")
        if extra:
            found.append(f"{logical_id} holds more than its own code: {extra[:5]}")
        if not (artifact / f"{spec.module}.py").exists():
            found.append(f"{logical_id} lacks its handler {spec.module}.py")
    for layer_id in template.of_type("AWS::Serverless::LayerVersion"):
        if not (build_dir / layer_id / "python" / "payments_core" / "__init__.py").exists():
            found.append(f"{layer_id} lacks the payments_core package")
        stale = without_bytecode(build_dir / layer_id / "python")
        if stale:
            found.append(f"{layer_id} ships {len(stale)} modules without unchecked-hash bytecode: {stale[:5]}")
    return found


def without_bytecode(root: Path) -> list[str]:
    """Modules under ``root`` lacking a Python 3.13 .pyc that Lambda can use as is.

    /opt is read-only in Lambda, so a module without one is compiled again at every cold start; and
    a timestamp-based .pyc goes stale when the zip's timestamps differ, so it must be hash-based and
    unchecked (PEP 552 flags = 0b01).
    """
    missing = []
    for source in root.rglob("*.py"):
        compiled = source.parent / "__pycache__" / f"{source.stem}.{PYC_TAG}.pyc"
        if not compiled.exists() or _pyc_flags(compiled) != UNCHECKED_HASH:
            missing.append(str(source.relative_to(root)))
    return sorted(missing)


def _pyc_flags(compiled: Path) -> int:
    with compiled.open("rb") as header:  # magic (4 bytes), then the flags word: no need for the rest
        return int.from_bytes(header.read(8)[4:8], "little")


def main() -> int:
    found = problems(Path(sys.argv[1]))
    for line in found:
        print(f"build check: {line}", file=sys.stderr)
    print("build check: every function holds only its own code" if not found else "build check failed")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
