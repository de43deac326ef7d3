"""egenerator.train."""
