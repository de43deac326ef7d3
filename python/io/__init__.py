"""egenerator.io."""
