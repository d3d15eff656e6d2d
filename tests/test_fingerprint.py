"""What a set's fingerprint covers besides the manifest: the teacher's every file."""

from pathlib import Path

from ffdata.build import build_inputs, recipe_digest
from ffdata.manifest import load_manifest
from ffdata.teacher import model_digest, teacher_identity

REPO = Path(__file__).resolve().parent.parent


def _model(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"model_type": "gpt2"}')
    (folder / "model-00001-of-00002.safetensors").write_bytes(b"first shard")
    (folder / "model-00002-of-00002.safetensors").write_bytes(b"second shard")
    return folder


def test_the_teacher_digest_covers_every_weight_shard(tmp_path):
    """The teacher id hashed only the first weight file: a changed second shard passed as the
    same teacher, and its answers were reused from the cache."""
    model = _model(tmp_path / "teacher")
    before = model_digest(model)
    (model / "model-00002-of-00002.safetensors").write_bytes(b"second shard, retrained")
    assert model_digest(model) != before
    (model / "config.json").write_text('{"model_type": "gpt2", "n_layer": 2}')
    assert len({before, model_digest(model)}) == 2


def test_a_local_teachers_digest_is_an_input_of_the_sets_fingerprint(tmp_path):
    """The teacher's digest was recorded by the answers cache but was not in the set's
    fingerprint: a new teacher gave new answers under the old name."""
    model = _model(tmp_path / "teacher")
    manifest = load_manifest(REPO / "manifests" / "distill_v3.yaml")
    options = {**manifest.options, "teacher": {"backend": "transformers", "model": str(model)}}
    manifest = manifest.model_copy(update={"options": options})

    def digest():
        inputs = build_inputs(manifest, REPO, "bundled")
        return inputs["teacher"], recipe_digest(manifest, inputs, "distill_v3", "3")

    (ident, before) = digest()
    assert ident == {"backend": "transformers", "model": "teacher", "sha256": model_digest(model)}
    (model / "model-00002-of-00002.safetensors").write_bytes(b"second shard, retrained")
    assert digest()[1] != before
    assert (
        teacher_identity({"backend": "openai", "model": "m", "endpoint": "http://x"}, REPO)["note"]
        == "served model: weights not hashed"
    )
