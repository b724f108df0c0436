"""Admin tooling that drives the chain through Ape (deployment, example settlement)."""
