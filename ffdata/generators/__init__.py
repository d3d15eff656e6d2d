"""Procedural item generators: Block D numeric families, MCQ and short facts from the curated
tables, anti-anchoring items, humanities items. Pure functions of (tables, seed): no framework
dependency, so other builders and the factual bench can reuse them."""
