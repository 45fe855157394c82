"""Model repository layout and config.pbtxt handling, as Triton reads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpufleet_server.model_config import ConfigError, config_as_json
from gpufleet_server.repository import discover

MLP_CONFIG = """
max_batch_size: 4
input [ { name: "x" data_type: TYPE_FP32 dims: [ -1, 3 ] } ]
output [ { name: "y" data_type: TYPE_FP16 dims: [ 2 ] } ]
dynamic_batching { max_queue_delay_microseconds: 500 }
"""


def make_model(repo: Path, name: str, config: str, versions: list[int]) -> None:
    (repo / name).mkdir(parents=True)
    (repo / name / "config.pbtxt").write_text(config)
    for version in versions:
        (repo / name / str(version)).mkdir()
        (repo / name / str(version) / "model.pt").write_bytes(b"weights")


def test_highest_version_and_defaults(tmp_path: Path) -> None:
    make_model(tmp_path, "mlp", MLP_CONFIG, [1, 3, 2])
    (found,) = discover(tmp_path)
    assert found.version == 3
    assert found.weights == tmp_path / "mlp" / "3" / "model.pt"
    spec = found.spec
    assert spec.name == "mlp"  # taken from the directory when config omits it
    assert spec.inputs[0].dims == (-1, 3)
    assert spec.outputs[0].datatype.protocol_name == "FP16"
    assert spec.batching is not None
    assert spec.batching.max_queue_delay_us == 500
    as_json = config_as_json(found.config)
    assert as_json["platform"] == "pytorch_libtorch"
    assert as_json["dynamic_batching"]["max_queue_delay_microseconds"] == 500
    assert as_json["input"][0]["dims"] == [-1, 3]


@pytest.mark.parametrize(
    ("policy", "served"),
    [
        ("version_policy: { all: {} }", [1, 2, 3]),
        ("version_policy: { latest: { num_versions: 2 } }", [2, 3]),
        ("version_policy: { specific: { versions: [1, 3] } }", [1, 3]),
    ],
    ids=["all", "latest-2", "specific"],
)
def test_version_policy(tmp_path: Path, policy: str, served: list[int]) -> None:
    make_model(tmp_path, "mlp", MLP_CONFIG + policy, [1, 2, 3])
    assert [f.version for f in discover(tmp_path)] == served


@pytest.mark.parametrize(
    ("config", "says"),
    [
        ("max_batch_size: oops", "config.pbtxt"),
        (MLP_CONFIG.replace("TYPE_FP32", "TYPE_STRING"), "unsupported TYPE_STRING"),
        ('name: "other"' + MLP_CONFIG, "differs from its directory"),
        ("max_batch_size: 1", "at least one input and output"),
    ],
    ids=["syntax", "string-tensor", "name-mismatch", "no-tensors"],
)
def test_bad_configs_are_rejected_with_reason(tmp_path: Path, config: str, says: str) -> None:
    make_model(tmp_path, "mlp", config, [1])
    with pytest.raises(ConfigError, match=says):
        discover(tmp_path)


def test_version_without_weights_is_rejected(tmp_path: Path) -> None:
    make_model(tmp_path, "mlp", MLP_CONFIG, [])
    (tmp_path / "mlp" / "1").mkdir()
    with pytest.raises(ConfigError, match=r"none of model\.pt, model\.pt2"):
        discover(tmp_path)
