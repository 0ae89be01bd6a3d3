"""Fixtures for the server's tests: servers started as subprocesses, always stopped; users
made for a test."""

from __future__ import annotations

from support.serving import serving
from support.users import stranger

__all__ = ["serving", "stranger"]
