"""datatrove's quality filters, built from the manifest, each with an exclusion writer so every
drop is recorded with reason `filtered:<name>` and datatrove's own sub-reason as detail.

The language and bad-words filters need files datatrove downloads on first use (the fastText
lid.176 model, the LDNOOBW word list). They are opt-in, and when enabled on a machine without
the file in datatrove's cache the build stops before any work with a message saying so.
"""

import os
from pathlib import Path

from datatrove.io import cached_assets_path
from datatrove.pipeline.filters import (
    C4BadWordsFilter,
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
    LanguageFilter,
)

from ffdata.errors import FFDataError

FILTER_CLASSES = {
    "gopher_repetition": GopherRepetitionFilter,
    "gopher_quality": GopherQualityFilter,
    "c4_quality": C4QualityFilter,
    "fineweb_quality": FineWebQualityFilter,
    "language": LanguageFilter,
    "c4_badwords": C4BadWordsFilter,
}

# Where datatrove caches its downloads (datatrove.io.cached_asset_path_or_download).
_LID_URL = "https://dl.fbaipublicfiles.com/fasttext/supervised-models/lid.176.bin"
_BADWORDS_URL = (
    "https://raw.githubusercontent.com/LDNOOBW/List-of-Dirty-Naughty-Obscene-and-Otherwise-Bad-Words/"
    "25e679f03d96baa721cde20db9944649e8d0a844/en"
)


def _cached(url: str, namespace: str, subfolder: str) -> Path:
    from fsspec.core import strip_protocol

    folder = cached_assets_path(library_name="datatrove", namespace=namespace, subfolder=subfolder)
    return Path(folder) / strip_protocol(url).replace("/", "_")


def check_downloads(filters: dict[str, dict]) -> None:
    """Fail early, in one line, when an opt-in filter's download is not in datatrove's cache."""
    needs = {
        "language": ("fastText lid.176 language-ID model", _LID_URL, "lid", "ft176"),
        "c4_badwords": ("LDNOOBW English bad-words list", _BADWORDS_URL, "filters", "c4_badwords"),
    }
    for name, (what, url, namespace, subfolder) in needs.items():
        if name not in filters or os.environ.get("FFDATA_ALLOW_DOWNLOADS") == "1":
            continue
        path = _cached(url, namespace, subfolder)
        if not path.exists():
            raise FFDataError(
                f"filter {name!r} is enabled but needs the {what}, which is not in datatrove's "
                f"cache ({path}); download {url} to that path, or set FFDATA_ALLOW_DOWNLOADS=1 "
                f"to let datatrove fetch it, or set options.filters.{name}: false"
            )


# Filters that split English text with datatrove's spaCy word/sentence tokenizer: they get
# FastSpacyWords (same words, faster; ffdata/pretrain/words.py) unless the manifest names a language.
WORD_SPLITTING = ("gopher_repetition", "gopher_quality", "c4_quality", "fineweb_quality")


def make_filters(enabled: dict[str, dict], skip: list[str], dropped_dir: str, words=None) -> list:
    """The enabled filters for one source, in manifest order, each with its exclusion writer.
    `words`: one shared FastSpacyWords, so consecutive filters reuse each other's split
    (datatrove caches `split_into_words` on (text, language))."""
    from ffdata.pretrain.steps import DroppedRows

    steps = []
    for name, kwargs in enabled.items():
        if name in skip:
            continue
        kwargs = dict(kwargs)
        if name == "language":
            kwargs.setdefault("languages", ["en"])
        if words is not None and name in WORD_SPLITTING:
            kwargs.setdefault("language", words)
        writer = DroppedRows(f"{dropped_dir}/{name}", reason=f"filtered:{name}")
        steps.append(FILTER_CLASSES[name](exclusion_writer=writer, **kwargs))
    return steps
