"""Annotation domains: "general" plus specialist domains that need a qualification.

On-chain a domain is a ``bytes32`` holding its name as a left-aligned ASCII string, so events
stay readable to an auditor without a lookup table.
"""

from __future__ import annotations

import re

__all__ = ["GENERAL", "SPECIALIST_DOMAINS", "domain_id", "domain_name"]

GENERAL = "general"
SPECIALIST_DOMAINS = ("medicine", "law", "finance", "science", "security")
_NAME = re.compile(r"[a-z][a-z0-9-]{0,30}")


def domain_id(name: str) -> bytes:
    """The ``bytes32`` of a domain name; ``ValueError`` unless it is 1-31 of [a-z0-9-]."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"invalid domain name {name!r}: use 1-31 characters of a-z, 0-9 and '-'")
    return name.encode("ascii").ljust(32, b"\0")


def domain_name(value: bytes) -> str:
    """Inverse of ``domain_id``."""
    return bytes(value).rstrip(b"\0").decode("ascii")
