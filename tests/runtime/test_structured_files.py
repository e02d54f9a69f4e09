"""``read_structured``: a JSON or YAML file's content, or an InvalidInputError naming the file and the fault."""

from __future__ import annotations

from pathlib import Path

import pytest

from training_hub.errors import InvalidInputError
from training_hub.structured_files import read_structured

pytestmark = pytest.mark.unit


def test_reads_json_yaml_and_every_yaml_document(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text('{"hidden_size": 64}')
    (tmp_path / "b.yaml").write_text("a: 1\n---\nb: 2\n")
    assert read_structured(tmp_path / "a.json", "model config", "JSON") == {"hidden_size": 64}
    assert read_structured(tmp_path / "b.yaml", "", "YAML", documents=True) == [{"a": 1}, {"b": 2}]


@pytest.mark.parametrize(
    ("text", "what", "language", "message"),
    [
        (None, "model config", "JSON", "cannot read model config .*missing: No such file"),
        ("{oops", "model config", "JSON", "model config .*bad is not valid JSON: Expecting"),
        ("a: [1", "config", "YAML", "config .*bad is not valid YAML: while parsing"),
        ("a: [1", "", "YAML", "^/.*bad is not valid YAML"),
    ],
)
def test_a_fault_is_a_clear_error(
    tmp_path: Path, text: str | None, what: str, language: str, message: str
) -> None:
    path = tmp_path / ("missing" if text is None else "bad")
    if text is not None:
        path.write_text(text)
    with pytest.raises(InvalidInputError, match=message):
        read_structured(path, what, language, documents=False)  # type: ignore[arg-type]
