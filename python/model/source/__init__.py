"""egenerator.model.source."""
