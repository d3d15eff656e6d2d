"""The pretraining mix (stage 1): datatrove steps of ours and the driver that runs them.

- `format`:   uint16 token shards + per-document Parquet sidecars (docs/pretrain_format.md)
- `config`:   the pretrain_mix manifest read into sources, shares, filters, dedup, executor
- `sources`:  datatrove readers per source and adapters for each hub schema
- `steps`:    our datatrove steps: malformed-row check, decontamination, dropped-row writer,
              tiktoken tokenize-and-shard writer
- `filters`:  datatrove's quality filters from the manifest (opt-in ones checked offline)
- `mixer`:    hash-based up/down-sampling to token targets, and the final shard writer step
- `pipeline`: the stages, the executors (local, Slurm, Ray) and the accounting
"""
