"""Payments, holds and refunds: models, the provider gateway, the store and the operations."""
