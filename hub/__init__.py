"""welfare-hub: the service."""
