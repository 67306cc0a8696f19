"""The tamper-evident record of every resolution: the chain, checkpoints and keys, verification, the auditor's
read side, tracing.
"""
