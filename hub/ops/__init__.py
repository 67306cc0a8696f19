"""Operating the hub: migrations, the embedded PostgreSQL, batch linking, the demo's data, synthetic sources."""
