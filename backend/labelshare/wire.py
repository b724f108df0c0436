"""The shapes of values on the wire (JSON bodies, query and path parameters), stated once so the
OpenAPI document gives every client the same patterns and bounds.

Integers travel as JSON numbers only when they are exact in every JSON parser (RFC 7493, I-JSON:
at most 2^53 - 1); larger ones (token amounts, uint256 values) travel as decimal strings.

In responses these types are enforced (a value off its pattern would be a bug, not a client's
error). Request fields whose value a domain check refuses with its own error code
(``invalid_signature``, ``wrong_domain``) state the pattern in the document only
(``documented_pattern``): every value off it is refused with that code, still a 400 or 403.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

__all__ = ["ADDRESS", "Address", "BYTES32", "Bytes32", "DECIMAL", "DecimalString", "MAX_SAFE_INTEGER", "SIGNATURE",
           "Signature", "documented_pattern"]

MAX_SAFE_INTEGER = 2**53 - 1  # the largest integer every JSON parser (JavaScript's too) holds exactly
ADDRESS = r"^0x[0-9a-fA-F]{40}$"
BYTES32 = r"^0x[0-9a-fA-F]{64}$"
SIGNATURE = r"^0x[0-9a-fA-F]{130}$"
DECIMAL = r"^[0-9]{1,78}$"

Address = Annotated[str, Field(pattern=ADDRESS, description="20-byte address, 0x-hex (EIP-55 checksummed)")]
Bytes32 = Annotated[str, Field(pattern=BYTES32, description="32 bytes, 0x-hex")]
Signature = Annotated[str, Field(pattern=SIGNATURE, description="65-byte signature (r, s, v), 0x-hex")]
DecimalString = Annotated[str, Field(pattern=DECIMAL, description="an integer below 2^256 as a decimal string, "
                                                                  "in the smallest unit (uint256 exceeds JSON numbers)")]


def documented_pattern(pattern: str) -> dict[str, Any]:
    """``json_schema_extra`` stating ``pattern`` for a request field a domain check validates."""
    return {"pattern": pattern}
