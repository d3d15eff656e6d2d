"""`python -m ffllm …`: what the deepspeed launcher and torchrun start on every rank."""

from ffllm.cli import app

app()
