"""dpo_v2: argilla/ultrafeedback-binarized-preferences pairs (a rejected experiment in the model
card, kept reproducible). Same pipeline as dpo_v1 (builders.dpo_v1.build_pairs): the scores are
UltraFeedback's mean preference ratings, so ties (chosen rating <= rejected) are dropped as
`not_preferred` — that is what takes the hub's 63,619 rows towards the card's 60,917 pairs.
"""

from builders.dpo_v1 import OPTIONS as OPTIONS  # the same targets and options as dpo_v1
from builders.dpo_v1 import PAIR_SCHEMA, build_pairs
from builders.dpo_v1 import SOURCE_OPTIONS as SOURCE_OPTIONS
from builders.dpo_v1 import TARGETS as TARGETS

VERSION = "1"
SCHEMA = PAIR_SCHEMA


def build(ctx) -> None:
    build_pairs(ctx)
