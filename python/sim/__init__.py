"""egenerator.sim."""
