"""Blocks E (literature, music, art) and F (philosophy): the model's weak domains.

Per work in a humanities table, up to four questions in different formats:
- who made it (MCQ; contrastive: the category's anchors, e.g. Shakespeare, sit among the
  distractors when the answer is someone else),
- which of these works is by a given person (MCQ, distractors by other people),
- when it appeared (short fact, only where the year is well established),
- yes/no checks against the anchors ("Did Mozart compose The Four Seasons?" -> "No. ...").
"""

from ffdata.generators import anchors, facts, mcq

HUMANITIES = ("literature", "music", "art")
PHILOSOPHY = ("philosophy",)


def creator(tables, seed, table):
    return anchors.contrastive_mcq(tables, seed, table)


def work_by(tables, seed, table):
    return mcq.work_by(tables, seed, table)


def year(tables, seed, table):
    return facts.work_year(tables, seed, table)


def yes_no(tables, seed, table):
    return anchors.yes_no(tables, seed, table)
