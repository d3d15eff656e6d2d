"""ffllm: train, evaluate and publish the FF-LLM GPT-2 models on sets built by ffdata."""

__version__ = "0.1.0"
