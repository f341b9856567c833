"""`make dev`: the whole system on this machine, no Docker, no AWS account. Ctrl-C stops it all."""

from __future__ import annotations

import signal
import threading
import time

from devstack.stack import LocalStack, StackConfig


def main() -> None:
    started = time.perf_counter()
    stack = LocalStack(StackConfig.from_environment())
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stack.start()
    try:
        routes = stack.template.http_routes()
        print(f"moto (AWS)        {stack.moto_endpoint}", flush=True)
        print(f"localstripe       {stack.stripe_url}  (webhook -> {stack.api_url}/webhooks/stripe)")
        print(f"API               {stack.api_url}  ({len(routes)} routes from template.yaml)")
        for poller in stack.pollers:
            print(f"poller            {poller.name}")
        print(f"emails            {stack.api_url}/_local/emails (also printed here)")
        print(f"\nready in {time.perf_counter() - started:.1f}s. Try:\n  curl {stack.api_url}/health\n", flush=True)
        stop.wait()
    finally:
        print("stopping...", flush=True)
        stack.stop()


if __name__ == "__main__":
    main()
