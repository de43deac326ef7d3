"""egenerator.export."""
