"""The compact DeepSpeed trainer: run manifest in, verified shards, checkpoints and metrics out.

config.py   run manifest schema          data.py        SFT / pretrain batches in a fixed order
model.py    GPT-2 presets, FLOPs         loss.py        chunked cross-entropy (no full logits)
trainer.py  the training loop            checkpoint.py  DeepSpeed + HF checkpoints, exact resume
step.py     one token-weighted step      launch.py      --nproc / --hostfile: starting ranks
"""
