"""The hub's own tables, one module per table family: consent, complaints, corrections, interests, notifications
and the outbox, the link index and review queue.
"""
