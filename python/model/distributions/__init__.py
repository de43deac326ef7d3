"""egenerator.model.distributions."""
