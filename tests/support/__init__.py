"""Shared test helpers (servers and fakes that run on 127.0.0.1 only)."""
