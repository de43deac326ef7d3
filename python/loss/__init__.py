"""egenerator.loss."""
