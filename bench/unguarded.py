"""The hub with its authorisation checks taken out, for measuring what they cost (bench only).

    python -m bench.unguarded serve

Patches, in this process only, what enforcement adds to a request: the organisation register check, the
operation walk and purpose decision (the purpose's spec is still looked up, as resolvers need it), the
per-field guard, the own-record read and the legitimate-relationship check. Everything else (token
verification, limits, linkage, source reads, the audit write) is the product as shipped. Nothing in the
product can switch enforcement off: only this module, which the service never imports.
"""

from __future__ import annotations

import sys
from typing import Any

import hub.execution.schema as hub_graphql
import resolvers.interests as resolver_interests
import resolvers.notifications as resolver_notifications
import resolvers.person as resolver_person
from hub.cli import main
from resolvers.context import RequestContext


async def _nothing(*_: Any, **__: Any) -> None:
    return None


def _decide_without_checks(register: Any, caller: Any, purpose_id: str, coordinates: Any) -> Any:
    return register.purposes[purpose_id]


def _resolve_unguarded(self: Any, _next: Any, root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
    return _next(root, info, *args, **kwargs)


def unguard() -> None:
    hub_graphql.PurposeGuard._check_organisation = _nothing  # type: ignore[method-assign]
    hub_graphql.decide = _decide_without_checks
    hub_graphql.field_coordinates = lambda *_: set()  # type: ignore[assignment]
    hub_graphql.PurposeGuard.resolve = _resolve_unguarded  # type: ignore[method-assign]
    RequestContext.own_subject = _nothing  # type: ignore[method-assign,assignment]
    RequestContext.own_subject_known = None  # type: ignore[assignment]
    for module in (resolver_person, resolver_interests, resolver_notifications):
        module.require_relationship = _nothing  # type: ignore[assignment]


if __name__ == "__main__":
    unguard()
    sys.exit(main(sys.argv[1:]))
