"""``training_hub.storage.uri``: generic ``<scheme>://`` URIs, parsed in one place for every caller."""

from __future__ import annotations

import pytest

from training_hub.pod.demo import is_demo_uri
from training_hub.pod.mounts import in_pod
from training_hub.storage.uri import has_scheme, scheme, split_uri

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("s3://bucket/key", "s3"),
        ("tiny://llama?layers=1", "tiny"),
        ("/mnt/pvc/x", ""),
        ("org/model", ""),
        ("://x", ""),
    ],
)
def test_scheme(value: str, expected: str) -> None:
    assert scheme(value) == expected
    assert has_scheme(value) is bool(expected)


def test_split_uri_needs_a_scheme_and_a_path() -> None:
    assert split_uri("gs://bucket/run/") == ("gs", "bucket/run")
    for bad in ("bucket/run", "s3://", "s3:///", "://bucket"):
        with pytest.raises(ValueError, match="expected '<scheme>://bucket/prefix'"):
            split_uri(bad)


def test_callers_read_schemes_the_same_way() -> None:
    from training_hub.params import param_model

    model = param_model("sft")
    base = {"model_path": "m", "data_path": "d.jsonl", "ckpt_output_dir": "/out"}
    assert (
        model.model_validate({**base, "checkpoint_storage": "s3://b/run"}).checkpoint_storage == "s3://b/run"
    )
    with pytest.raises(ValueError, match="must be 'pvc' or a URI"):
        model.model_validate({**base, "checkpoint_storage": "s3://"})
    assert is_demo_uri("tiny://messages") and not is_demo_uri("/data/tiny://x")
    env = {"TRAINING_HUB_MOUNT_ROOT": "/tmp/root"}
    assert (
        in_pod("tiny://llama", env) == "tiny://llama"
        and in_pod("/mnt/pvc/c/x", env) == "/tmp/root/mnt/pvc/c/x"
    )
