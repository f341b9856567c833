"""The build check that keeps bytecode in the layer: Lambda's /opt is read-only, so a module without
usable bytecode is compiled again at every cold start."""

from __future__ import annotations

import py_compile
from pathlib import Path

from devstack.check_build import without_bytecode


def write_module(root: Path, name: str) -> Path:
    source = root / f"{name}.py"
    source.write_text("VALUE = 1\n")
    return source


def test_a_module_compiled_with_unchecked_hashes_passes(tmp_path: Path) -> None:
    # Given a module compiled as the layer's Makefile does
    source = write_module(tmp_path, "good")
    py_compile.compile(str(source), invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)

    # Then nothing is reported
    assert without_bytecode(tmp_path) == []


def test_a_module_without_bytecode_or_with_timestamp_bytecode_is_reported(tmp_path: Path) -> None:
    # Given one module never compiled and one compiled the default (timestamp) way
    write_module(tmp_path, "missing")
    stale = write_module(tmp_path, "timestamped")
    py_compile.compile(str(stale), invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)

    # Then both are reported
    assert without_bytecode(tmp_path) == ["missing.py", "timestamped.py"]
