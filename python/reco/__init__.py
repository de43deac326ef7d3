"""egenerator.reco."""
