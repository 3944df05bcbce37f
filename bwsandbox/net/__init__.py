"""Sandbox networking: modes none/host/filtered. Filtered mode lives in private modules here."""

from __future__ import annotations
