"""MkDocs hooks (mkdocs.yml): the API reference is rendered from the OpenAPI document that the local
stack serves at /openapi.json, generated here from the same code at each build."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OPENAPI = ROOT / ".docs-build" / "openapi.json"  # docs/openapi.md renders it: [OAD(./.docs-build/openapi.json)]


def openapi_json() -> str:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # MkDocs loads this file by path, not as part of the package
    from devstack.openapi import document
    from devstack.template import Template

    return json.dumps(document(Template(ROOT / "template.yaml")), indent=2)


def on_config(config: Any) -> Any:
    OPENAPI.parent.mkdir(exist_ok=True)
    OPENAPI.write_text(openapi_json())
    if (Path(config["docs_dir"]) / "operations.md").exists() and config["nav"]:
        titles = [next(iter(item)) if isinstance(item, dict) else item for item in config["nav"]]
        if "operations.md" not in json.dumps(config["nav"]):
            config["nav"].insert(titles.index("Local stack") + 1, {"Operations": "operations.md"})
    return config


def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File

    files.append(File.generated(config, "openapi.json", content=OPENAPI.read_text()))
    return files
