"""The tokenized-data cache: its file round-trips every array exactly, and a cache of another version is
never read as this one's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from training_hub.data import dataset, prepare_dataset
from training_hub.data.dataset import CACHE_MAGIC, TokenizedDataset
from training_hub.errors import DataFormatError

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def tokenizer(tiny_tokenizer_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_tokenizer_dir))


def test_the_cache_file_round_trips_every_array(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 50, size=40)
    ids = rng.integers(0, 2**31 - 1, size=int(lengths.sum())).astype(np.int32)
    labels = np.where(rng.random(ids.size) < 0.5, ids, -100).astype(np.int32)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    lines = rng.integers(1, 2**40, size=lengths.size).astype(np.int64)
    original = TokenizedDataset(ids, labels, offsets, lines)
    original.save(tmp_path / "d.bin")
    back = TokenizedDataset.load(tmp_path / "d.bin")
    for name in ("input_ids", "labels", "offsets", "lines", "lengths", "num_targets"):
        assert np.array_equal(getattr(back, name), getattr(original, name)), name
        assert getattr(back, name).dtype == getattr(original, name).dtype, name
    assert back.input_ids.flags.writeable and back.labels.flags.writeable
    assert not list(tmp_path.glob(".*tmp*")), "the temporary file is renamed into place"


@pytest.mark.parametrize(
    "content", [b"PK\x03\x04 an npz (a zip)", CACHE_MAGIC[:-1] + b"\x01" + bytes(40), b""]
)
def test_a_file_of_another_format_or_version_is_refused(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "d.bin").write_bytes(content)
    with pytest.raises(DataFormatError, match="not a tokenized-data file of this version"):
        TokenizedDataset.load(tmp_path / "d.bin")


def test_a_file_cut_short_is_refused(tmp_path: Path) -> None:
    TokenizedDataset.from_samples([(np.arange(10), np.arange(10))], [1]).save(tmp_path / "d.bin")
    whole = (tmp_path / "d.bin").read_bytes()
    (tmp_path / "d.bin").write_bytes(whole[:-4])
    with pytest.raises(DataFormatError, match="cut short"):
        TokenizedDataset.load(tmp_path / "d.bin")


def test_a_cache_of_the_previous_version_is_not_reused(
    tmp_path: Path, messages_data: Path, tokenizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "data"
    with monkeypatch.context() as patched:
        patched.setattr(dataset, "CACHE_VERSION", dataset.CACHE_VERSION - 1)
        _, old = prepare_dataset(messages_data, tokenizer, max_seq_len=64, output_dir=out)
    ds, new = prepare_dataset(messages_data, tokenizer, max_seq_len=64, output_dir=out)
    assert not old.from_cache and not new.from_cache
    assert new.cache_path != old.cache_path  # the version is part of the key
    _, again = prepare_dataset(messages_data, tokenizer, max_seq_len=64, output_dir=out)
    assert again.from_cache and again.cache_path == new.cache_path


def test_an_unreadable_cache_file_is_prepared_again(tmp_path: Path, messages_data: Path, tokenizer) -> None:
    out = tmp_path / "data"
    ds, st = prepare_dataset(messages_data, tokenizer, max_seq_len=64, output_dir=out)
    Path(st.cache_path).write_bytes(b"PK\x03\x04 not this format")
    again, st2 = prepare_dataset(messages_data, tokenizer, max_seq_len=64, output_dir=out)
    assert not st2.from_cache
    assert np.array_equal(again.input_ids, ds.input_ids) and np.array_equal(again.labels, ds.labels)
    third, st3 = prepare_dataset(messages_data, tokenizer, max_seq_len=64, output_dir=out)
    assert st3.from_cache and np.array_equal(third.labels, ds.labels)


@pytest.mark.parametrize("enabled", [True, False])
def test_the_cyclic_collector_is_paused_during_a_call_and_restored(
    tmp_path: Path, messages_data: Path, tokenizer, monkeypatch: pytest.MonkeyPatch, enabled: bool
) -> None:
    import gc

    seen: list[bool] = []
    real = dataset.read_records

    def spy(*args, **kwargs):
        seen.append(gc.isenabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(dataset, "read_records", spy)
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        prepare_dataset(messages_data, tokenizer, max_seq_len=64)
        assert seen == [False]
        assert gc.isenabled() is enabled
        with pytest.raises(DataFormatError):
            prepare_dataset(write_bad(tmp_path), tokenizer, max_seq_len=64)
        assert gc.isenabled() is enabled  # restored after an error too
    finally:
        (gc.enable if was else gc.disable)()


def write_bad(tmp_path: Path) -> Path:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"messages": []}\n', encoding="utf-8")
    return path


def test_a_cache_hit_does_not_read_the_data_again(
    tmp_path: Path, messages_data: Path, tokenizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cache is looked up before the file is parsed and validated; an option that changes the
    outcome (`is_pretraining`, the format asked for) is part of the key, so it misses and is judged."""
    from training_hub.errors import InvalidInputError

    out = tmp_path / "data"
    first, st = prepare_dataset(messages_data, tokenizer, max_seq_len=64, output_dir=out)
    with monkeypatch.context() as patched:

        def refuse(*args: object, **kwargs: object) -> None:
            raise AssertionError("the data was read again")

        patched.setattr(dataset, "read_records", refuse)
        again, st2 = prepare_dataset(messages_data, tokenizer, max_seq_len=64, output_dir=out)
        with pytest.raises(AssertionError, match="read again"):
            prepare_dataset(messages_data, tokenizer, max_seq_len=64, output_dir=out, data_format="messages")
    assert st2.from_cache and st2.cache_path == st.cache_path and st2.format == "messages"
    assert np.array_equal(again.input_ids, first.input_ids) and np.array_equal(again.labels, first.labels)
    with pytest.raises(InvalidInputError, match="is_pretraining"):
        prepare_dataset(messages_data, tokenizer, max_seq_len=64, output_dir=out, is_pretraining=True)
    with pytest.raises(InvalidInputError, match="does not exist"):
        prepare_dataset(tmp_path / "missing.jsonl", tokenizer, max_seq_len=64, output_dir=out)


def test_a_file_over_the_read_once_size_is_digested_in_blocks_to_the_same_key(
    tmp_path: Path, messages_data: Path, tokenizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A small file is read once for the key's digest and the parse; a file over the size is digested in
    blocks and parsed from the file. Both give the same cache key: each hits the other's cache."""
    out = tmp_path / "data"
    first, st = prepare_dataset(messages_data, tokenizer, max_seq_len=64, output_dir=out)
    assert not st.from_cache
    monkeypatch.setattr(dataset, "_READ_ONCE_BYTES", 0)
    hit, st_hit = prepare_dataset(messages_data, tokenizer, max_seq_len=64, output_dir=out)
    assert st_hit.from_cache and st_hit.cache_path == st.cache_path
    other = tmp_path / "other"
    big, st_big = prepare_dataset(messages_data, tokenizer, max_seq_len=64, output_dir=other)
    assert not st_big.from_cache and Path(st_big.cache_path).name == Path(st.cache_path).name
    assert np.array_equal(big.input_ids, first.input_ids) and np.array_equal(big.labels, first.labels)
