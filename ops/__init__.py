"""Operator commands (they work against AWS as well as the local stack)."""
