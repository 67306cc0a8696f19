"""The tamper-evident record of every resolution: the record and chain, checkpoints and keys, verification,
the auditor's read side (events, subject access, holds), transparency, anomalies, tracing.
"""
