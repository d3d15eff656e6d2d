"""A faster drop-in for datatrove's English spaCy word splitter: the same words and sentences,
so the quality filters and MinHash that use it make the same decisions.

datatrove's `SpaCyTokenizer("en")` (behind `split_into_words(text, "en")`) spends most of its time
on work that never reaches the result (cProfile on the bench's real text):
- `word_tokenize` runs the whole pipeline, sentencizer included, though only tokens are read;
- every call is its own spaCy memory zone, and inside a zone spaCy neither caches a tokenized
  chunk nor keeps a new word, so each document re-creates every word the blank vocabulary
  lacks and re-runs the prefix/suffix/infix rules on every chunk;
- each token's text goes through a Python `Token` object.
Here words come from the tokenizer alone, outside memory zones (spaCy's chunk cache and the
vocabulary stay warm), sliced from the tokens' character offsets. Memory stays bounded the
other way: the spaCy object is rebuilt after `reset_docs` calls, dropping what it learnt.
The filters take it through their own `language` argument (datatrove accepts a
`WordTokenizer` there), so their code is unchanged. The tests and bench/pretrain_tokens.py
check word-for-word agreement and identical keep/drop decisions on real text.

One known difference: text containing "IS_ALPHA" (spaCy's attribute symbol 1) corrupts the
blank vocabulary inside a memory zone, so datatrove's shared splitter answers right once and
then returns another word in its place, or drops it, depending on the process. Words here are
sliced from the text, so they are always what a fresh datatrove splitter gives on its first
call (tested).
"""

from datatrove.utils.word_tokenizers import WordTokenizer, load_word_tokenizer, strip_strings

# Built by preload() in the driver before datatrove forks its local workers, which inherit it
# instead of each importing spaCy (~3 s of CPU per process here) and building their own.
_SHARED: dict[str, object] = {}


def _blank(language: str):
    import spacy

    nlp = spacy.blank(language)  # as datatrove builds it
    nlp.add_pipe("sentencizer")
    return nlp


def preload(language: str = "en") -> None:
    if language not in _SHARED:
        _SHARED[language] = _blank(language)


class FastSpacyWords(WordTokenizer):
    def __init__(self, language: str = "en", reset_docs: int = 10_000):
        if language != "en":  # other languages' datatrove tokenizers have their own configs
            raise ValueError(f"FastSpacyWords is for English only, not {language!r}")
        super().__init__(language)
        self.reset_docs = reset_docs
        self._nlp = None
        self._calls = 0

    def __getstate__(self):  # sent to worker processes without the spaCy object
        return {"language": self.language, "reset_docs": self.reset_docs}

    def __setstate__(self, state):
        self.__init__(state["language"], state["reset_docs"])
        # Unpickled where tasks start (a Ray actor, a Slurm job): load spaCy there once, so the
        # processes it forks for its ranks inherit it instead of each loading their own.
        preload(self.language)

    def _get_nlp(self):
        self._calls += 1
        if self._nlp is None:
            self._nlp = _SHARED.get(self.language) or _blank(self.language)
        elif self._calls > self.reset_docs:
            self._nlp, self._calls = _blank(self.language), 1
        return self._nlp

    def word_tokenize(self, text: str) -> list[str]:
        from spacy.attrs import IDX, LENGTH

        tokenizer = self._get_nlp().tokenizer  # the sentencizer never changes tokens
        try:
            doc = tokenizer(text)
        except Exception:  # datatrove's own retry rules for strings spaCy chokes on
            return load_word_tokenizer(self.language).word_tokenize(text)
        return strip_strings([text[i : i + n] for i, n in doc.to_array([IDX, LENGTH]).tolist()])

    def _sentences(self, text: str):
        nlp = self._get_nlp()
        nlp.max_length = len(text) + 10
        return nlp(text).sents

    def sent_tokenize(self, text: str) -> list[str]:
        try:
            sents = self._sentences(text)
        except Exception:
            return load_word_tokenizer(self.language).sent_tokenize(text)
        return strip_strings([s.text for s in sents])

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        try:
            sents = self._sentences(text)
        except Exception:
            return load_word_tokenizer(self.language).span_tokenize(text)
        return [(s.start_char, s.end_char) for s in sents]
