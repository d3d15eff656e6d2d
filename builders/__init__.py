"""One module per set: each exposes VERSION and build(ctx) and composes ffdata steps."""
