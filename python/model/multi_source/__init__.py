"""egenerator.model.multi_source."""
