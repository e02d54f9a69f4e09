"""Preference data: both formats, response-only labels, TRL's prompt boundary, clear errors per line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from training_hub.data.labels import IGNORE_INDEX
from training_hub.data.preference import prepare_preferences, read_preferences
from training_hub.errors import DataFormatError, InvalidInputError

pytestmark = pytest.mark.unit


def write(tmp_path: Path, rows: list[Any], name: str = "d.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def tokenizer(tiny_tokenizer_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_tokenizer_dir))


def test_standard_pairs_train_only_the_responses_and_end_with_eos(tmp_path: Path, tokenizer: Any) -> None:
    path = write(tmp_path, [{"prompt": "say red: ", "chosen": "red", "rejected": "blue green"}])
    ds, stats = prepare_preferences(path, tokenizer, max_seq_len=64)
    assert len(ds) == 1 and stats.format == "preference" and stats.num_records == 1
    prompt_ids = tokenizer(text="say red: ")["input_ids"]
    for row, response in ((0, "red"), (1, "blue green")):
        ids, labels = ds.rows.sample(row)
        assert ids.tolist() == tokenizer(text="say red: " + response + tokenizer.eos_token)["input_ids"]
        # TRL's boundary: the response starts where the prompt's tokens and the full text's first differ
        # (here the prompt's trailing space merges into the response's first token).
        n = int((labels == IGNORE_INDEX).sum())
        assert len(prompt_ids) - 1 <= n <= len(prompt_ids) and ids[:n].tolist() == prompt_ids[:n]
        assert (labels[:n] == IGNORE_INDEX).all()
        assert (labels[n:] == ids[n:]).all() and ids[-1] == tokenizer.eos_token_id
    batch = ds.collate([0])
    assert batch["response_tokens"].tolist() == [[int((ds.rows.sample(r)[1] != -100).sum()) for r in (0, 1)]]
    assert set(batch["row_index"][0].tolist()) == {0, 1}


def test_chat_pairs_with_explicit_and_implicit_prompt_are_the_same(tmp_path: Path, tokenizer: Any) -> None:
    user = {"role": "user", "content": "count: red blue"}
    good, bad = {"role": "assistant", "content": "two"}, {"role": "assistant", "content": "five"}
    explicit = write(tmp_path, [{"prompt": [user], "chosen": [good], "rejected": [bad]}], "a.jsonl")
    implicit = write(tmp_path, [{"chosen": [user, good], "rejected": [user, bad]}], "b.jsonl")
    a, stats = prepare_preferences(explicit, tokenizer, max_seq_len=64)
    b, _ = prepare_preferences(implicit, tokenizer, max_seq_len=64)
    assert stats.format == "preference-chat"
    assert a.rows.input_ids.tolist() == b.rows.input_ids.tolist()
    assert a.rows.labels.tolist() == b.rows.labels.tolist()
    ids, labels = a.rows.sample(0)
    trained = tokenizer.decode([t for t, lab in zip(ids, labels, strict=True) if lab != IGNORE_INDEX])
    assert (
        trained.startswith("two") and "count" not in trained
    )  # the prompt (and its template) is not trained


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "invalid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ({"prompt": "p", "chosen": "a"}, "missing key(s) `rejected`"),
        ({"prompt": 3, "chosen": "a", "rejected": "b"}, "`prompt` must be a string"),
        ({"prompt": "p", "chosen": "a", "rejected": ["b"]}, "both be strings or both be lists"),
        (
            {"chosen": [{"role": "user", "content": "q"}], "rejected": [{"role": "bot", "content": "x"}]},
            "role",
        ),
        ({"prompt": "p", "chosen": "a", "rejected": "b", "ref_chosen_logps": -1.0}, "set both"),
        (
            {"prompt": "p", "chosen": "a", "rejected": "b", "ref_chosen_logps": "x", "ref_rejected_logps": 1},
            "must be a finite number",
        ),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path: Path, line: Any, message: str) -> None:
    good = {"prompt": "p", "chosen": "a", "rejected": "b"}
    path = write(tmp_path, [good, "", line])
    with pytest.raises(DataFormatError) as err:
        read_preferences(path)
    assert f"{path}:3" in str(err.value) and message in str(err.value)


def test_mixed_forms_and_partial_reference_log_probs_are_errors(tmp_path: Path) -> None:
    text = {"prompt": "p", "chosen": "a", "rejected": "b"}
    chat = {"prompt": [{"role": "user", "content": "q"}], "chosen": [{"role": "assistant", "content": "a"}]}
    chat["rejected"] = [{"role": "assistant", "content": "b"}]
    with pytest.raises(DataFormatError, match=r":2: mixes chat and plain-text"):
        read_preferences(write(tmp_path, [text, chat]))
    with_ref = {**text, "ref_chosen_logps": -1.0, "ref_rejected_logps": -2.0}
    with pytest.raises(DataFormatError, match=r":2: .*every line or on none"):
        read_preferences(write(tmp_path, [with_ref, text]))
    with pytest.raises(InvalidInputError, match="does not exist"):
        read_preferences(tmp_path / "missing.jsonl")
    with pytest.raises(DataFormatError, match="holds no sample"):
        read_preferences(write(tmp_path, [""]))


def test_reference_log_probs_from_the_data_reach_the_batch(tmp_path: Path, tokenizer: Any) -> None:
    rows = [
        {"prompt": "p", "chosen": "a", "rejected": "b", "ref_chosen_logps": -1.5, "ref_rejected_logps": -2.5},
        {"prompt": "q", "chosen": "c", "rejected": "d", "ref_chosen_logps": -3.0, "ref_rejected_logps": -4.0},
    ]
    ds, _ = prepare_preferences(write(tmp_path, rows), tokenizer, max_seq_len=64)
    assert ds.collate([1, 0])["ref_logps"].tolist() == [[-3.0, -4.0], [-1.5, -2.5]]


def test_overlong_policies(tmp_path: Path, tokenizer: Any) -> None:
    long = {"prompt": "p ", "chosen": " ".join(["apple"] * 40), "rejected": "b"}
    short = {"prompt": "p ", "chosen": "a", "rejected": "b"}
    path = write(tmp_path, [short, long])
    ds, stats = prepare_preferences(path, tokenizer, max_seq_len=16)
    assert len(ds) == 2 and stats.num_truncated == 1 and stats.truncated_lines == [2]
    assert int(ds.rows.lengths.max()) == 16
    ds, stats = prepare_preferences(path, tokenizer, max_seq_len=16, overlong_policy="drop")
    assert len(ds) == 1 and stats.dropped_lines == [2]
    with pytest.raises(DataFormatError, match=rf"{path}:2: .*max_seq_len=16"):
        prepare_preferences(path, tokenizer, max_seq_len=16, overlong_policy="error")
    prompt_only = write(
        tmp_path, [{"prompt": " ".join(["apple"] * 40), "chosen": "a", "rejected": "b"}], "p.jsonl"
    )
    with pytest.raises(DataFormatError, match="no pair is left"):
        prepare_preferences(prompt_only, tokenizer, max_seq_len=16)
