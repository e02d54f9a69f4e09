"""GPU choices made without a GPU: dtype and attention from the hardware (CUDA mocked in torch itself),
no CUDA context before ``set_device``, and ``backend='auto'`` picking only an engine that can run the run."""

from __future__ import annotations

from typing import Any

import pytest

from training_hub.backends.selection import RUNTIME_IMAGE_MODULES, select_backend
from training_hub.engine.precision import choose_precision
from training_hub.errors import InvalidInputError
from training_hub.hardware import Hardware, planned_hardware, probe_hardware

pytestmark = pytest.mark.unit

H100 = Hardware(cuda=True, capability=(9, 0), bf16=True, flash_attn=True, device_count=8, name="H100")
T4 = Hardware(cuda=True, capability=(7, 5), bf16=False, flash_attn=True, device_count=1, name="T4")
B200 = Hardware(cuda=True, capability=(10, 0), bf16=True, flash_attn=True, device_count=8, name="B200")
CPU = Hardware(cuda=False)


class FakeCuda:
    """The parts of ``torch.cuda`` the probe uses, recording the order of calls."""

    def __init__(self, capability: tuple[int, int], count: int = 2) -> None:
        self.capability = capability
        self.count = count
        self.calls: list[tuple[str, Any]] = []

    def is_available(self) -> bool:
        return True

    def device_count(self) -> int:
        return self.count

    def set_device(self, index: int) -> None:
        self.calls.append(("set_device", index))

    def get_device_capability(self, index: int) -> tuple[int, int]:
        self.calls.append(("capability", index))
        return self.capability

    def is_bf16_supported(self, including_emulation: bool = True) -> bool:
        self.calls.append(("bf16", including_emulation))
        assert self.calls[0] == ("set_device", 1), "asked before this rank's device was selected"
        return self.capability >= (8, 0) or including_emulation

    def get_device_name(self, index: int) -> str:
        return "Fake GPU"


@pytest.mark.parametrize("capability, bf16", [((9, 0), True), ((7, 0), False)])
def test_probe_selects_the_rank_device_first_and_asks_bf16_without_emulation(
    monkeypatch: pytest.MonkeyPatch, capability: tuple[int, int], bf16: bool
) -> None:
    import torch

    fake = FakeCuda(capability)
    for name in ("is_available", "device_count", "set_device", "get_device_capability", "get_device_name"):
        monkeypatch.setattr(torch.cuda, name, getattr(fake, name))
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", fake.is_bf16_supported)
    monkeypatch.setenv("LOCAL_RANK", "1")
    hw = probe_hardware()
    assert fake.calls[0] == ("set_device", 1)
    assert ("bf16", False) in fake.calls
    assert hw.cuda and hw.capability == capability and hw.bf16 is bf16
    fake.calls.clear()
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    launcher = probe_hardware(select_device=False)  # the process that starts torchrun
    assert all(name != "set_device" and name != "bf16" for name, _ in fake.calls)
    assert launcher.bf16 is bf16


def test_flash_attention_only_with_bf16_on_ampere_or_newer() -> None:
    assert choose_precision(H100, None, None).attention == "flash_attention_2"
    fp32 = choose_precision(H100, False, None)
    assert fp32.attention == "sdpa" and not fp32.bf16  # flash-attn refuses fp32 inputs
    t4 = choose_precision(T4, None, None)
    assert t4.attention == "sdpa" and not t4.bf16  # no native bf16: float32, SDPA
    no_flash = Hardware(cuda=True, capability=(8, 0), bf16=True, flash_attn=False)
    assert choose_precision(no_flash, None, None).attention == "sdpa"


def test_bf16_errors_where_it_is_not_native() -> None:
    with pytest.raises(InvalidInputError, match="natively"):
        choose_precision(T4, True, None)
    with pytest.raises(InvalidInputError, match="needs a CUDA GPU"):
        choose_precision(CPU, True, None)


def test_activation_checkpointing_defaults_on_gpu_only() -> None:
    assert choose_precision(H100, None, None).activation_checkpointing is True
    assert choose_precision(CPU, None, None).activation_checkpointing is False
    assert choose_precision(CPU, None, True).activation_checkpointing is True
    assert choose_precision(H100, None, False).activation_checkpointing is False


def test_planned_hardware_knows_the_generation() -> None:
    assert planned_hardware("NVIDIA-H100-80GB-HBM3").capability == (9, 0)
    assert planned_hardware("Tesla-T4").bf16 is False
    assert planned_hardware(None).capability is None


BASE = {"model_path": "m", "data_path": "d", "ckpt_output_dir": "o"}
EVERYTHING = lambda module: True  # noqa: E731
IMAGE = lambda module: module in RUNTIME_IMAGE_MODULES  # noqa: E731


@pytest.fixture(autouse=True, scope="module")
def _registered() -> None:
    from training_hub.algorithms.builtin import register_builtin

    register_builtin()


def test_auto_sft_takes_instructlab_only_when_it_can_run_the_run() -> None:
    assert (
        select_backend("sft", {**BASE, "nproc_per_node": 8}, H100, EVERYTHING).name == "instructlab-training"
    )
    limited = select_backend("sft", {**BASE, "max_steps": 10}, H100, EVERYTHING)
    assert limited.name == "native" and "max_steps" in limited.reason
    for hw, why in ((T4, "SM 7.5"), (B200, "SM 10.0")):
        choice = select_backend("sft", BASE, hw, EVERYTHING)
        assert choice.name == "native" and why in choice.reason
    no_flash = Hardware(cuda=True, capability=(8, 0), bf16=True, flash_attn=False)
    assert "flash-attn" in select_backend("sft", BASE, no_flash, EVERYTHING).reason


def test_auto_lora_takes_unsloth_only_on_one_gpu() -> None:
    one = select_backend("lora_sft", {**BASE, "nproc_per_node": 1}, H100, EVERYTHING)
    assert one.name == "unsloth"
    many = select_backend("lora_sft", {**BASE, "nproc_per_node": 8}, H100, EVERYTHING)
    assert many.name == "peft" and "nproc_per_node=8" in many.reason


def test_auto_osft_needs_mini_trainer_and_native_bf16() -> None:
    params = {**BASE, "unfreeze_rank_ratio": 0.25}
    assert select_backend("osft", params, H100, IMAGE).name == "mini-trainer"
    assert "bf16" in select_backend("osft", params, T4, IMAGE).reason
    assert select_backend("osft", params, CPU, EVERYTHING).name == "native"


def test_invalid_parameters_are_not_an_engine_problem() -> None:
    # OSFT without unfreeze_rank_ratio is invalid for every backend: validation reports it, auto does not
    # fall back because of it.
    assert select_backend("osft", BASE, H100, IMAGE).name == "mini-trainer"
