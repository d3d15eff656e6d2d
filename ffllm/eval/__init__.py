"""Evaluation: MMLU through lm-eval-harness and the project factual bench."""
