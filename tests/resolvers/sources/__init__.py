"""The source adapters: one contract suite run against each."""
