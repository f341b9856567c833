"""Accounts and tokens. Nothing here imports the Stripe SDK."""
