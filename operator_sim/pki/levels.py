"""RGS assurance levels and the test-only OID arc they live under.

Kept apart from the certificate profiles so that the trust vocabulary (policies, verdicts,
reasons) imports without `cryptography`: the validator's command line loads it at every start
and only needs the X.509 machinery when an act actually carries a signature.
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.x509.oid import ObjectIdentifier

# 2.25.<UUID as integer> (ITU-T X.667): an arc nobody else can own; "test only" by design.
TEST_ARC = "2.25.126446315594817105333266097449719227884"


class RgsLevel(Enum):
    """RGS assurance level of an agent certificate; each maps to one test policy OID."""

    ONE = "*"
    TWO = "**"
    THREE = "***"

    @property
    def policy_oid(self) -> ObjectIdentifier:
        from cryptography.x509.oid import ObjectIdentifier

        return ObjectIdentifier(f"{TEST_ARC}.1.{len(self.value)}")

    @classmethod
    def parse(cls, text: str) -> RgsLevel:
        for level in cls:
            if text in (level.value, str(len(level.value)), level.name):
                return level
        raise ValueError(f"unknown RGS level {text!r} (use *, ** or ***)")

    @classmethod
    def from_policy_oid(cls, oid: ObjectIdentifier) -> RgsLevel | None:
        return next((level for level in cls if level.policy_oid == oid), None)
