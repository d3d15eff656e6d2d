"""`ffdata report`: a self-contained HTML page with embedded plots, the same bytes every time."""

import base64
import re

import pytest

from ffdata.build import build_set
from ffdata.errors import FFDataError
from ffdata.report import write_report
from tests.conftest import write_gsm8k_manifest


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> str:
    base = tmp_path_factory.mktemp("report")
    root = str(base / "root")
    build_set("gsm8k_sft", write_gsm8k_manifest(base / "p", rows=150, decontam=("gsm8k",)), root,
              quiet=True)  # fmt: skip
    return root


def test_report_is_self_contained_and_deterministic(root, tmp_path):
    path = write_report("gsm8k_sft", root, tmp_path / "r.html")
    page = path.read_text()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "gsm8k_sft" in page and "All checks passed" in page
    assert "1,000 of its 10,042" in page  # the offline HellaSwag subset is said where reported
    for heading in ("Composition", "Reconciliation", "Contamination", "Lengths", "Duplicates"):
        assert f"<h2>{heading}" in page
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) >= 5  # rows by block/source, targets, drops by reason, 2 histograms
    for b64 in images:
        assert base64.b64decode(b64)[:8] == b"\x89PNG\r\n\x1a\n"
    assert "http" not in page.replace("http-equiv", "")  # nothing fetched from elsewhere
    again = write_report("gsm8k_sft", root, tmp_path / "r2.html")
    assert again.read_bytes() == path.read_bytes()


def test_report_unknown_set(root, tmp_path):
    with pytest.raises(FFDataError, match="no built set 'nope'"):
        write_report("nope", root, tmp_path / "x.html")
