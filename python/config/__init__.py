"""egenerator.config."""
