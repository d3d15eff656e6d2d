import pytest

from ffdata.errors import FFDataError
from ffdata.manifest import load_manifest

SHA = "ab" * 32
BASE = f"""
name: demo
version: "1"
sources:
  - name: s
    loader: jsonl
    path: data/x.jsonl
    sha256: {SHA}
output:
  path: demo
"""


def write(tmp_path, text):
    p = tmp_path / "m.yaml"
    p.write_text(text)
    return p


def test_valid_manifest_loads_with_defaults(tmp_path):
    m = load_manifest(write(tmp_path, BASE))
    assert m.name == "demo" and m.seed == 0
    assert m.decontamination.action == "drop"
    assert set(m.decontamination.targets) == {"mmlu", "arc", "gsm8k", "hellaswag", "truthfulqa"}


def test_unknown_key_names_file_and_field_path(tmp_path):
    p = write(
        tmp_path,
        BASE.replace("    sha256: " + SHA + "", "    sha256: " + SHA + "\n    colour: red"),
    )
    with pytest.raises(FFDataError) as e:
        load_manifest(p)
    msg = str(e.value)
    assert str(p) in msg and "sources.0.colour" in msg and "unknown key" in msg


def test_unknown_loader_is_an_error(tmp_path):
    with pytest.raises(FFDataError, match=r"sources\.0\.loader"):
        load_manifest(write(tmp_path, BASE.replace("loader: jsonl", "loader: ftp")))


def test_hf_source_needs_pinned_revision(tmp_path):
    text = BASE.replace(
        "    loader: jsonl\n    path: data/x.jsonl\n    sha256: " + SHA + "",
        "    loader: hf\n    uri: allenai/ai2_arc",
    )
    with pytest.raises(FFDataError, match="revision"):
        load_manifest(write(tmp_path, text))


@pytest.mark.parametrize(
    ("files", "error"),
    [
        ("[a.json]", None),
        ("[a.json, b.parquet]", "share one of the types"),
        ("[a.txt]", "share one of the types"),
        ("[]", "one or more repo files"),
    ],
)
def test_hub_source_files_share_one_readable_type(tmp_path, files, error):
    text = BASE.replace(
        "    loader: jsonl\n    path: data/x.jsonl\n    sha256: " + SHA + "",
        f"    loader: hf\n    uri: tatsu-lab/alpaca_farm\n    revision: {'e5' * 20}\n    files: {files}",
    )
    if error is None:
        assert load_manifest(write(tmp_path, text)).sources[0].files == ["a.json"]
    else:
        with pytest.raises(FFDataError, match=error):
            load_manifest(write(tmp_path, text))


def test_files_are_only_for_hub_sources(tmp_path):
    text = BASE.replace("    sha256: " + SHA + "\n", f"    sha256: {SHA}\n    files: [a.json]\n")
    with pytest.raises(FFDataError, match="for loader 'hf'"):
        load_manifest(write(tmp_path, text))


def test_local_source_needs_sha256(tmp_path):
    with pytest.raises(FFDataError, match="sha256"):
        load_manifest(write(tmp_path, BASE.replace("    sha256: " + SHA + "\n", "")))


def test_yaml_and_encoding_errors_are_one_line(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_bytes(b"name: [unclosed\n")
    with pytest.raises(FFDataError, match="YAML error"):
        load_manifest(p)
    p.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(FFDataError, match="UTF-8"):
        load_manifest(p)
