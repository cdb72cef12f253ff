"""Developer tooling: the local stack, the demo, synthetic data. Not part of the service."""
