"""Who is asking. A plain value, so the policy decision can use it without the token machinery."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Caller"]


@dataclass(frozen=True, slots=True)
class Caller:
    """The organisation (and its type) a user acts for, and the purposes it is entitled to."""

    org: str
    org_type: str
    user: str
    role: str
    purposes: frozenset[str]
    token_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"
