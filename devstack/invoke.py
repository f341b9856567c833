"""`make invoke FN=<LogicalId> [EVENT=events/<file>.json]`: the Docker-free twin of `sam local invoke`
(without EVENT, the function's own events/<function>.json: `make invoke FN=ReconcilerFunction` runs
one reconciler pass now).

Runs one function's handler in this process on the event file, against the AWS (moto) and Stripe
(localstripe) of a running `make dev`. The environment is the function's own from template.yaml,
with events/env.json's values on top, as `sam local invoke --env-vars events/env.json` would use.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from devstack.runtime import FunctionRuntime
from devstack.template import Template

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2):
        print("usage: python -m devstack.invoke <FunctionLogicalId> [<event.json>]", file=sys.stderr)
        return 2
    from devstack.sample_events import event_file_name

    # Without an event file, the function's own (events/<function>.json): `make invoke FN=ReconcilerFunction`.
    function_id, event_path = argv[0], (argv[1] if len(argv) == 2 else str(ROOT / "events" / event_file_name(argv[0])))
    moto = f"http://127.0.0.1:{os.environ.get('DEV_MOTO_PORT', '5000')}"
    template = Template(ROOT / "template.yaml")
    specs = template.functions(moto)
    if function_id not in specs:
        print(f"unknown function {function_id}; one of: {', '.join(sorted(specs))}", file=sys.stderr)
        return 2
    env_file = json.loads((ROOT / "events" / "env.json").read_text())
    overrides = dict(env_file.get("Parameters", {})) | dict(env_file.get(function_id, {}))
    overrides |= {
        "AWS_ENDPOINT_URL": moto,
        "STRIPE_API_BASE": f"http://127.0.0.1:{os.environ.get('DEV_STRIPE_PORT', '8420')}",
        "AWS_DEFAULT_REGION": template.region,
    }
    os.environ.update(specs[function_id].environment | overrides)
    for layer in template.layer_dirs():
        sys.path.insert(0, str(layer))
    result = FunctionRuntime(specs[function_id]).invoke(json.loads(Path(event_path).read_text()))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
