"""Shared code of the payments backend, shipped to every function in one SAM layer."""

__version__ = "0.1.0"
