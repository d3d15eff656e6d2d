import json
from pathlib import Path

from ffdata import tokenizer

REPO = Path(__file__).resolve().parent.parent


def test_hello_world_ids():
    assert tokenizer.encode("Hello world") == [15496, 995]
    assert tokenizer.hf_tokenizer().encode("Hello world") == [15496, 995]
    assert tokenizer.decode([15496, 995]) == "Hello world"


def test_tiktoken_and_hf_agree_on_real_text():
    """Ids must match exactly on a large real sample (GSM8K train, ~4 MB)."""
    lines = (REPO / "data/sources/gsm8k/train.jsonl").read_text().splitlines()
    texts = []
    for line in lines:
        row = json.loads(line)
        texts += [row["question"], row["answer"], "  " + row["question"].upper() + "\n\n"]
    fast = tokenizer.encode_batch(texts)
    hf = tokenizer.hf_tokenizer()(texts, add_special_tokens=False)["input_ids"]
    mismatches = [i for i, (a, b) in enumerate(zip(fast, hf, strict=True)) if a != b]
    assert not mismatches, f"{len(mismatches)} texts differ, first {texts[mismatches[0]]!r}"
    assert sum(map(len, fast)) > 1_000_000


def test_end_of_text_is_special_only_when_asked():
    ids = tokenizer.encode("a<|endoftext|>b")
    assert tokenizer.EOT_ID not in ids
    assert tokenizer.tiktoken_encoding().n_vocab == 50257


def test_saved_hf_tokenizer_loads_offline(tmp_path):
    from transformers import AutoTokenizer

    tokenizer.save_hf_tokenizer(tmp_path)
    tok = AutoTokenizer.from_pretrained(tmp_path)
    assert tok.encode("Hello world") == [15496, 995]
    assert tok.eos_token_id == tokenizer.EOT_ID
