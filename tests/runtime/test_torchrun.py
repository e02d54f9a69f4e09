"""get_torchrun_params precedence/errors and torchrun_command, branch by branch."""

from __future__ import annotations

import sys

import pytest

from training_hub.errors import InvalidInputError
from training_hub.torchrun import get_torchrun_params, inside_torchrun, needs_launch, torchrun_command

pytestmark = pytest.mark.unit


def test_defaults_without_args_or_env() -> None:
    assert get_torchrun_params({}, env={}) == {"nproc_per_node": 1, "nnodes": 1, "node_rank": 0, "rdzv_id": 0}


def test_env_values_are_used_and_converted() -> None:
    env = {"PET_NPROC_PER_NODE": "4", "PET_NNODES": "2", "PET_NODE_RANK": "1", "PET_RDZV_ID": " job7 "}
    env["PET_RDZV_ENDPOINT"] = "head:29400"
    got = get_torchrun_params({}, env=env)
    assert got == {
        "nproc_per_node": 4,
        "nnodes": 2,
        "node_rank": 1,
        "rdzv_id": "job7",
        "rdzv_endpoint": "head:29400",
    }


def test_args_beat_env() -> None:
    env = {"PET_NPROC_PER_NODE": "4", "PET_NNODES": "2", "PET_NODE_RANK": "1", "PET_MASTER_ADDR": "x"}
    got = get_torchrun_params({"nproc_per_node": 2, "nnodes": 1, "node_rank": 0}, env=env)
    assert (got["nproc_per_node"], got["nnodes"], got["node_rank"]) == (2, 1, 0)


def test_none_in_args_means_not_set() -> None:
    got = get_torchrun_params({"nproc_per_node": None}, env={"PET_NPROC_PER_NODE": "3"})
    assert got["nproc_per_node"] == 3


@pytest.mark.parametrize("value", ["2", " 2 ", 2])
def test_nproc_digit_string_or_int(value: object) -> None:
    assert get_torchrun_params({"nproc_per_node": value}, env={})["nproc_per_node"] == 2


@pytest.mark.parametrize("value", ["auto", "gpu", "GPU"])
def test_nproc_auto_needs_cuda(value: str) -> None:
    # This machine has no CUDA: upstream raises a ValueError; ours is an InvalidInputError (a ValueError).
    with pytest.raises(ValueError, match="CUDA"):
        get_torchrun_params({"nproc_per_node": value}, env={})


@pytest.mark.parametrize("value", ["two", 1.5, True, 0, "-1"])
def test_nproc_invalid(value: object) -> None:
    with pytest.raises(InvalidInputError, match="nproc_per_node"):
        get_torchrun_params({"nproc_per_node": value}, env={})


def test_non_integer_nnodes_is_an_error() -> None:
    with pytest.raises(InvalidInputError, match="nnodes"):
        get_torchrun_params({}, env={"PET_NNODES": "many"})


def test_node_rank_must_be_below_nnodes() -> None:
    with pytest.raises(InvalidInputError, match="node_rank"):
        get_torchrun_params({"nnodes": 2, "node_rank": 2, "master_addr": "h"}, env={})


def test_multi_node_needs_an_address() -> None:
    with pytest.raises(InvalidInputError, match="rendezvous"):
        get_torchrun_params({"nnodes": 2}, env={})


def test_master_addr_and_endpoint_same_level_args() -> None:
    with pytest.raises(InvalidInputError, match="same level"):
        get_torchrun_params({"master_addr": "a", "rdzv_endpoint": "b:1"}, env={})


def test_master_addr_and_endpoint_same_level_env() -> None:
    with pytest.raises(InvalidInputError, match="same level"):
        get_torchrun_params({}, env={"MASTER_ADDR": "a", "PET_RDZV_ENDPOINT": "b:1"})


def test_args_master_addr_beats_env_endpoint_with_warning() -> None:
    with pytest.warns(UserWarning, match="higher precedence"):
        got = get_torchrun_params(
            {"master_addr": "a"}, env={"PET_RDZV_ENDPOINT": "b:1", "MASTER_PORT": "1234"}
        )
    assert got["master_addr"] == "a" and got["master_port"] == 1234 and "rdzv_endpoint" not in got


def test_args_endpoint_beats_env_master_addr_with_warning() -> None:
    with pytest.warns(UserWarning, match="PET_MASTER_ADDR"):
        got = get_torchrun_params({"rdzv_endpoint": "b:1"}, env={"PET_MASTER_ADDR": "a"})
    assert got["rdzv_endpoint"] == "b:1" and "master_addr" not in got


def test_pet_and_plain_master_addr_must_agree() -> None:
    with pytest.raises(InvalidInputError, match="conflicting"):
        get_torchrun_params({}, env={"PET_MASTER_ADDR": "a", "MASTER_ADDR": "b"})
    got = get_torchrun_params({}, env={"PET_MASTER_ADDR": "a", "MASTER_ADDR": "a"})
    assert got["master_addr"] == "a"


def test_pet_and_plain_master_port_must_agree() -> None:
    with pytest.raises(InvalidInputError, match="MASTER_PORT"):
        get_torchrun_params({}, env={"MASTER_ADDR": "a", "PET_MASTER_PORT": "1", "MASTER_PORT": "2"})


def test_master_addr_from_args_ignores_env_conflicts() -> None:
    got = get_torchrun_params({"master_addr": "c"}, env={"PET_MASTER_ADDR": "a", "MASTER_ADDR": "b"})
    assert got["master_addr"] == "c"


def test_master_port_only_counts_with_master_addr() -> None:
    got = get_torchrun_params({"master_port": 1234}, env={})
    assert "master_port" not in got and "master_addr" not in got


def test_invalid_master_port() -> None:
    with pytest.raises(InvalidInputError, match="master_port"):
        get_torchrun_params({}, env={"MASTER_ADDR": "a", "MASTER_PORT": "http"})


def test_command_standalone_without_address() -> None:
    params = get_torchrun_params({"nproc_per_node": 2}, env={})
    argv = torchrun_command(params, ["-m", "mod", "--x"], python="py")
    assert argv[:3] == ["py", "-m", "torch.distributed.run"]
    assert "--standalone" in argv and "--nproc-per-node=2" in argv
    assert argv[-3:] == ["-m", "mod", "--x"]


def test_command_static_master() -> None:
    params = get_torchrun_params({"nnodes": 2, "node_rank": 1, "master_addr": "h", "master_port": 5}, env={})
    argv = torchrun_command(params, ["s.py"])
    assert argv[0] == sys.executable
    for flag in (
        "--rdzv-backend=static",
        "--master-addr=h",
        "--master-port=5",
        "--node-rank=1",
        "--nnodes=2",
    ):
        assert flag in argv
    assert "--standalone" not in argv


def test_command_rdzv_endpoint() -> None:
    params = get_torchrun_params({"nnodes": 2, "rdzv_endpoint": "h:29400", "rdzv_id": "r"}, env={})
    argv = torchrun_command(params, ["s.py"])
    assert "--rdzv-endpoint=h:29400" in argv and "--rdzv-backend=c10d" in argv and "--rdzv-id=r" in argv


def test_needs_launch_and_inside_torchrun() -> None:
    assert not needs_launch({"nproc_per_node": 1, "nnodes": 1})
    assert needs_launch({"nproc_per_node": 2, "nnodes": 1})
    assert needs_launch({"nproc_per_node": 1, "nnodes": 2})
    assert needs_launch({"nproc_per_node": "gpu", "nnodes": 1})
    assert inside_torchrun({"TORCHELASTIC_RUN_ID": "x"}) and inside_torchrun({"LOCAL_RANK": "0"})
    assert not inside_torchrun({})
