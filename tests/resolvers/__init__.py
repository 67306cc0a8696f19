"""Tests of the resolvers: the GraphQL fields and, beside them, the source adapters."""
