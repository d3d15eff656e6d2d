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


def test_duplicate_keys_are_errors_naming_file_line_and_key(tmp_path):
    # YAML keeps the last of two equal keys silently: `seed: 1` then `seed: 2` built seed 2
    p = write(tmp_path, BASE.replace('version: "1"', 'version: "1"\nseed: 1\nseed: 2'))
    with pytest.raises(FFDataError, match=rf"{p}: line 5: duplicate key 'seed'"):
        load_manifest(p)
    nested = BASE.replace("    loader: jsonl\n", "    loader: jsonl\n    loader: csv\n")
    with pytest.raises(FFDataError, match="line 7: duplicate key 'loader'"):
        load_manifest(write(tmp_path, nested))


def test_aliases_are_refused_so_an_alias_bomb_cannot_expand(tmp_path):
    bomb = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 12):  # 10^12 nodes once expanded
        prev = chr(ord("a") + i - 1)
        bomb.append(f"{chr(ord('a') + i)}: &{chr(ord('a') + i)} [{', '.join(['*' + prev] * 10)}]")
    text = BASE + "targets:\n" + "".join(f"  {line}\n" for line in bomb)
    p = write(tmp_path, text)
    with pytest.raises(FFDataError, match=rf"{p}: line 13: alias \*a \(aliases are not allowed\)"):
        load_manifest(p)


@pytest.mark.parametrize("builder", ["os.path", "../x", "builders.repair_blocks"])
def test_builder_is_a_plain_module_name(tmp_path, builder):
    p = write(tmp_path, BASE.replace('version: "1"', f'version: "1"\nbuilder: "{builder}"'))
    with pytest.raises(FFDataError, match="builder: String should match"):
        load_manifest(p)


@pytest.mark.parametrize(
    "field, value", [("seed", "1.5"), ("seed", '"3"'), ("count", "-1"), ("count", "2.0")]
)
def test_counts_and_seeds_are_integers(tmp_path, field, value):
    text = (
        BASE
        if field == "seed"
        else BASE.replace("    sha256:", f"    {field}: {value}\n    sha256:")
    )
    if field == "seed":
        text = text.replace('version: "1"', f'version: "1"\nseed: {value}')
    with pytest.raises(FFDataError, match=field):
        load_manifest(write(tmp_path, text))


def test_python_yaml_tags_are_refused_and_never_run(tmp_path):
    marker = tmp_path / "ran"
    tag = f'!!python/object/apply:os.system ["touch {marker}"]'
    p = write(tmp_path, BASE.replace("name: demo", f"name: {tag}"))
    with pytest.raises(FFDataError, match=rf"{p}: YAML error: could not determine a constructor"):
        load_manifest(p)
    assert not marker.exists()


@pytest.mark.parametrize("path", ["../../escaped", "/abs", "a/../b", "sets/*", "a//b", ""])
def test_output_path_stays_under_the_storage_root(tmp_path, path):
    p = write(tmp_path, BASE.replace("  path: demo", f'  path: "{path}"'))
    with pytest.raises(FFDataError, match="output.path: Value error, must be folder names"):
        load_manifest(p)
