"""The documentation site builds strictly, and its API reference is the OpenAPI document the local
stack serves, rendered: every route of the template is on the page."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from devstack.openapi import document
from devstack.template import Template
from tests.conftest import ROOT


def test_the_site_builds_strictly_with_every_route_in_its_api_reference(tmp_path: Path) -> None:
    mkdocs = Path(sys.executable).with_name("mkdocs")
    done = subprocess.run(
        [str(mkdocs), "build", "--strict", "--quiet", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    template = Template(ROOT / "template.yaml")
    assert json.loads((tmp_path / "openapi.json").read_text()) == document(template)
    page = html.unescape(re.sub(r"<[^>]+>", "", (tmp_path / "openapi" / "index.html").read_text()))
    missing = [
        f"{route.method} {route.path}"
        for route in template.http_routes()
        if not re.search(rf"{route.method}\s+{re.escape(route.path)}(?![\w/{{])", page)
    ]
    assert missing == []
