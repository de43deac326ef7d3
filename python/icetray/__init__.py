"""egenerator.icetray."""
