"""Stripe: the gateway (requests, mapping, errors), the SDK, webhook verification and parsing."""
