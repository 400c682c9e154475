"""Demo data: the seed's metric names with known shapes, served live and backfilled."""
