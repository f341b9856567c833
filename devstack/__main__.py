"""`make dev`: the whole system on this machine, no Docker, no AWS account. Ctrl-C stops it all."""

from __future__ import annotations

import signal
import time

from devstack.stack import LocalStack, StackConfig


def main() -> None:
    started = time.perf_counter()
    stack = LocalStack(StackConfig.from_environment())
    # A plain flag, not a threading.Event: Event.set() in a signal handler can deadlock on the lock
    # the interrupted Event.wait() holds (seen under load: the stack ignored Ctrl-C).
    stop_requested: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _: stop_requested.append(signum))
    signal.signal(signal.SIGINT, lambda signum, _: stop_requested.append(signum))
    stack.start()
    try:
        routes = stack.template.http_routes()
        print(f"moto (AWS)        {stack.moto_endpoint}", flush=True)
        if stack.strict_stripe is not None:
            print(
                f"Stripe (strict)   {stack.stripe_url}  (API {stack.strict_stripe.version}: refuses what Stripe would, "
                f"controls at /_strict/; localstripe behind it on {stack.localstripe_url}; "
                f"webhook -> {stack.api_url}/webhooks/stripe; DEV_STRICT_STRIPE=0 bypasses it)"
            )
        elif stack.config.stripe_test_key:
            print(
                f"Stripe test mode  {stack.stripe_url}  (webhooks: stripe listen --forward-to "
                f"{stack.api_url}/webhooks/stripe, with DEV_STRIPE_WEBHOOK_SECRET set to the secret it prints)"
            )
        else:
            print(f"localstripe       {stack.stripe_url}  (webhook -> {stack.api_url}/webhooks/stripe)")
        print(f"API               {stack.api_url}  ({len(routes)} routes from template.yaml)")
        for poller in stack.pollers:
            print(f"poller            {poller.name}")
        print(f"emails            {stack.api_url}/_local/emails (also printed here)")
        print(f"\nready in {time.perf_counter() - started:.1f}s. Try:\n  curl {stack.api_url}/health\n", flush=True)
        while not stop_requested:
            time.sleep(0.2)
    finally:
        print("stopping...", flush=True)
        stack.stop()


if __name__ == "__main__":
    main()
