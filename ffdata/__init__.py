"""ffdata: reproducible, fingerprinted, auditable training sets for the FF-LLM line."""

__version__ = "0.1.0"
