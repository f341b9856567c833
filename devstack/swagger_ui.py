"""`GET /docs` on the local stack: Swagger UI for /openapi.json, its assets from the swagger-ui-py
package (no CDN: the page works offline)."""

from __future__ import annotations

import importlib.util
import mimetypes
from pathlib import Path

from werkzeug.wrappers import Request, Response

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Payments API (local)</title>
  <link rel="stylesheet" href="/docs/static/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/static/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/static/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({
      url: "/openapi.json",
      dom_id: "#swagger-ui",
      deepLinking: true,
      persistAuthorization: true,
      tryItOutEnabled: false,
    });
  </script>
</body>
</html>
"""


def static_dir() -> Path:
    spec = importlib.util.find_spec("swagger_ui")  # found, not imported: its web-framework glue is not needed
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("swagger-ui-py is not installed (requirements-dev.txt)")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def page(_: Request) -> Response:
    return Response(PAGE, content_type="text/html; charset=utf-8")


def asset(request: Request) -> Response:
    name = request.path.removeprefix("/docs/static/")
    folder = static_dir()
    path = (folder / name).resolve()
    if "/" in name or not path.is_relative_to(folder.resolve()) or not path.is_file():
        return Response('{"message":"Not Found"}', status=404, content_type="application/json")
    mimetype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return Response(path.read_bytes(), content_type=mimetype, headers={"Cache-Control": "max-age=3600"})
