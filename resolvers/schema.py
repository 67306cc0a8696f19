"""The root of the GraphQL schema: Query and Mutation, composed from each feature's fields.

Each feature declares its own root fields (the person lookup in :mod:`resolvers.person`, the review queue,
the audit read side, ...); this module only puts them together. The order of the bases is the order of
the fields in ``schema.graphql``.
"""

from __future__ import annotations

import strawberry

from resolvers.audit import AuditMutation, AuditQuery
from resolvers.complaints import ComplaintMutation, ComplaintQuery
from resolvers.consent import ConsentMutation
from resolvers.corrections import CorrectionMutation, CorrectionQuery
from resolvers.interests import InterestMutation, InterestQuery
from resolvers.notice import NoticeQuery
from resolvers.notifications import NotificationMutation, NotificationQuery
from resolvers.person import PersonQuery
from resolvers.review import ReviewMutation, ReviewQuery
from resolvers.sensitivity import tier
from resolvers.transparency import TransparencyQuery

__all__ = ["Mutation", "Query"]


@strawberry.type(
    description="What the hub answers. Every read of personal data names a purpose and is audited.",
    directives=tier("identity"),
)
class Query(
    ReviewQuery,
    NoticeQuery,
    AuditQuery,
    TransparencyQuery,
    NotificationQuery,
    InterestQuery,
    CorrectionQuery,
    ComplaintQuery,
    PersonQuery,
):
    pass


@strawberry.type(
    description="What the hub records: decisions, consents, notifications, "
    "corrections, complaints. Every one is audited.",
    directives=tier("identity"),
)
class Mutation(
    ReviewMutation,
    ConsentMutation,
    AuditMutation,
    NotificationMutation,
    InterestMutation,
    CorrectionMutation,
    ComplaintMutation,
):
    pass
