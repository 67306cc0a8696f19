"""The GraphQL execution layer: schema build, the purpose guard and its audit hand-off, the operation walk,
redaction.
"""
