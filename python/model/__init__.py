"""egenerator.model."""
