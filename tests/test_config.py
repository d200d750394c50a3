"""Configuration checks: every bad value is named with what is allowed."""

import copy
from pathlib import Path

import pytest
import yaml

from mosaicfocus.data.imagefolder import imagefolder_check
from mosaicfocus.errors import NO_CUDA_ADVICE
from mosaicfocus.runplan.configcheck import config_problems, source_problems, validate_config
from mosaicfocus.runplan.hostcheck import cuda_problem, host_has_gpu, job_device, lockstep_training

REPO = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())


def checked(config):
    config = copy.deepcopy(config)
    problems = validate_config(config, SCHEMA)
    return config, problems


def test_defaults_fill_an_empty_config_with_the_protocol_values():
    config, problems = checked({})
    assert problems == []
    assert config["train"] == {
        "lr": 0.01,
        "momentum": 0.9,
        "batch_size": 256,
        "epochs": 200,
        "restarts": 3,  # this workflow's default; the study's protocol is 0 (config.yaml says so)
        "dtype": "float32",  # the authors trained in float64 (docs/protocol.md)
        "stop_loss": None,  # the second table's notebook stopped at 0.001 (docs/protocol.md)
        "epochs_per_job": 100,
        "lockstep": "auto",
        "threads": 1,
    }
    assert config["device"] == "auto" and config["tf32"] is False
    assert config["mosaics"]["count"] == 20000
    assert config["foreground_classes"] == ["airplane", "automobile", "bird"]
    assert config["data"]["source"] == "cifar10"


def test_shipped_configs_are_valid():
    for path in [REPO / "config.yaml", REPO / "tests" / "config" / "tiny.yaml"]:
        config, problems = checked(yaml.safe_load(path.read_text()))
        assert problems == [] and config_problems(config) == [] and source_problems(config) == []


@pytest.mark.parametrize(
    "config, expected",
    [
        ({"trian": {}}, "unknown key(s) ['trian']"),
        ({"train": {"lr": -0.1}}, "train.lr: -0.1 is out of range; it must be > 0"),
        ({"train": {"lr": 0}}, "train.lr: 0 is out of range; it must be > 0"),
        ({"train": {"epochs": 0}}, "train.epochs: 0 is out of range; it must be >= 1"),
        ({"train": {"batch_size": "big"}}, "train.batch_size: 'big' is not of type integer"),
        ({"train": {"epochs": 2.5}}, "train.epochs: 2.5 is not of type integer"),
        ({"train": {"momentum": 1.0}}, "train.momentum: 1.0 is out of range; it must be < 1"),
        ({"mosaics": {"count": -4}}, "mosaics.count: -4 is out of range; it must be >= 2"),
        ({"mosaics": {"count": 101}}, "mosaics.count: 101 must be a multiple of 2"),
        ({"device": "gpu"}, "device: 'gpu' is not allowed; use one of ['auto', 'cpu', 'cuda']"),
        ({"data": {"source": "mnist"}}, "data.source: 'mnist' is not allowed"),
        ({"foreground_classes": []}, "foreground_classes: must list at least 1 item(s)"),
        ({"seed": 1.5}, "seed: 1.5 is not of type integer"),
    ],
)
def test_schema_errors_name_the_key_and_what_is_allowed(config, expected):
    _, problems = checked(config)
    assert any(expected in p for p in problems), problems


def test_nested_command_line_values_are_read_as_numbers():
    # snakemake --config train='{lr: 0.03, epochs: 5}' delivers the nested values as strings
    config, problems = checked({"train": {"lr": "0.03", "epochs": "5"}, "mosaics": {"count": "1e3"}})
    assert config["train"]["lr"] == 0.03 and config["train"]["epochs"] == 5
    assert any("mosaics.count: '1e3' is not of type integer" in p for p in problems)


def test_overlapping_classes_and_too_many_foregrounds():
    config, _ = checked({"foreground_classes": ["cat", "bird", "dog", "deer"], "background_classes": ["cat", "ship"]})
    problems = config_problems(config)
    assert any("overlap in ['cat']" in p for p in problems)
    assert any("foreground_classes has 4 classes but model.outputs is 3" in p for p in problems)


def test_unknown_class_name():
    config, _ = checked({"foreground_classes": ["airplane", "aeroplane"]})
    (problem,) = source_problems(config)
    assert "foreground_classes: ['aeroplane'] not in the data's classes" in problem


def test_boolean_from_the_command_line_is_read_as_a_boolean():
    config, problems = checked({"heldout": {"enabled": "true"}})
    assert problems == [] and config["heldout"]["enabled"] is True
    _, problems = checked({"heldout": {"enabled": "yes please"}})
    assert problems == ["heldout.enabled: 'yes please' is not of type boolean"]


def test_optional_number_from_the_command_line_is_read_as_a_number():
    config, problems = checked({"data": {"images_per_class": "120"}})
    assert problems == [] and config["data"]["images_per_class"] == 120
    _, problems = checked({"data": {"images_per_class": "1.5"}})
    assert problems == ["data.images_per_class: '1.5' is not of type ['integer', 'null']"]


def test_slice_larger_than_the_source_names_the_smallest_class():
    config, _ = checked({"data": {"source": "cifar10", "images_per_class": 5001}})
    assert source_problems(config) == [
        "data.images_per_class: 5001 is more than the source holds: class 'airplane' has 5000 images "
        "(data.source=cifar10); use at most 5000, or leave it unset (null) to use every image."
    ]
    config, _ = checked({"data": {"source": "cifar10", "images_per_class": 5000}})
    assert source_problems(config) == []


def test_cuda_is_checked_only_for_local_runs(monkeypatch):
    import torch

    no_gpu = lambda: False  # noqa: E731
    assert "no CUDA device" in cuda_problem("cuda", local_exec=True, has_gpu=no_gpu)
    assert cuda_problem("cuda", local_exec=False, has_gpu=no_gpu) is None  # SLURM: the job checks
    assert cuda_problem("auto", local_exec=True, has_gpu=no_gpu) is None
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert cuda_problem("cuda", local_exec=True, has_gpu=lambda: True) is None
    assert cuda_problem("auto", local_exec=True, has_gpu=lambda: True) is None


def test_a_gpu_that_torch_cannot_use_is_refused_with_both_fixes(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for device in ("auto", "cuda"):
        problem = cuda_problem(device, local_exec=True, has_gpu=lambda: True)
        assert problem.startswith(
            f"device: {device}, and this machine has an NVIDIA GPU, but torch {torch.__version__}"
        )
        assert f"torch.version.cuda {torch.version.cuda}" in problem
        assert "set device: cpu" in problem and "install a torch wheel built for a CUDA version" in problem
    assert cuda_problem("cpu", local_exec=True, has_gpu=lambda: True) is None


def test_device_auto_is_resolved_before_any_job():
    gpu, no_gpu = (lambda: True), (lambda: False)
    assert job_device("auto", local_exec=True, has_gpu=gpu) == "cuda"
    assert job_device("auto", local_exec=True, has_gpu=no_gpu) == "cpu"
    assert job_device("auto", local_exec=False, has_gpu=no_gpu) == "cuda"  # a cluster's nodes
    assert job_device("cpu", local_exec=False, has_gpu=gpu) == "cpu"
    assert lockstep_training("auto", "auto", has_gpu=gpu) and lockstep_training("auto", "cuda", has_gpu=no_gpu)
    assert not lockstep_training("auto", "auto", has_gpu=no_gpu) and not lockstep_training("auto", "cpu", has_gpu=gpu)
    assert lockstep_training(True, "cpu", has_gpu=no_gpu) and not lockstep_training(False, "cuda", has_gpu=gpu)


def test_both_cuda_checks_give_the_same_advice(monkeypatch):
    """Before the first job (hostcheck, no torch) and in the job (devices, torch): one advice."""
    import torch

    from mosaicfocus.devices import prepare_device
    from mosaicfocus.errors import MosaicFocusError

    assert NO_CUDA_ADVICE in cuda_problem("cuda", local_exec=True, has_gpu=lambda: False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(MosaicFocusError, match="it does not fall back to the CPU") as raised:
        prepare_device("cuda")
    assert NO_CUDA_ADVICE in str(raised.value)


def test_cuda_visible_devices_can_hide_every_gpu(monkeypatch, tmp_path):
    """On a host with a GPU (a device node of our own, as MOSAICFOCUS_GPU_DEVICE_NODES names it to
    the workflow): seen, then hidden by CUDA_VISIBLE_DEVICES empty or -1, and seen through "0"."""
    from mosaicfocus.runplan import hostcheck

    (tmp_path / "nvidia0").write_text("")
    monkeypatch.setattr(hostcheck, "DEVICE_NODES", str(tmp_path / "nvidia[0-9]*"))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert host_has_gpu() is True
    for hidden in ("-1", "", " "):
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", hidden)
        assert host_has_gpu() is False, repr(hidden)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    assert host_has_gpu() is True


def test_image_folder_check_counts_and_samples_headers(tmp_path):
    from PIL import Image

    for name, count in (("cat", 3), ("dog", 1)):
        (tmp_path / "train" / name).mkdir(parents=True)
        for i in range(count):
            Image.new("RGB", (32, 32)).save(tmp_path / "train" / name / f"{i}.png")
    (tmp_path / "train" / "cat" / "notes.txt").write_text("not an image: not counted")
    assert imagefolder_check(tmp_path) == ({"cat": 3, "dog": 1}, [])
    Image.new("P", (32, 32)).save(tmp_path / "train" / "dog" / "0.png")
    _, problems = imagefolder_check(tmp_path)
    assert problems == [
        f"{tmp_path}/train/dog/0.png: image mode is 'P', only 'RGB' is accepted (grayscale, RGBA or "
        f"palette images are refused, not guessed); convert the folder's images to 3-channel RGB."
    ]


def test_the_whole_check_runs_without_snakemake_and_stops_at_the_first_kind_of_problem():
    from mosaicfocus.runplan.configcheck import check_config

    config = {"data": {"source": "synthetic"}, "train": {"lr": "0.03"}, "sweep": {"train.momentum": ["0.5", 0.8]}}
    assert check_config(config, SCHEMA) == []
    assert config["train"]["lr"] == 0.03 and config["sweep"] == {"train.momentum": [0.5, 0.8]}  # typed in place
    # Schema problems first: the sweep is not looked at while the config itself is wrong.
    assert check_config({"train": {"lr": -1}, "sweep": {"nope": [1]}}, SCHEMA) == [
        "train.lr: -1 is out of range; it must be > 0"
    ]
    assert check_config({"data": {"source": "synthetic"}, "sweep": {"nope": [1]}}, SCHEMA)[0].startswith(
        "sweep: 'nope' cannot be swept"
    )
    missing = check_config({"data": {"source": "imagefolder", "root": "/nonexistent/cifar"}}, SCHEMA)
    assert len(missing) == 1 and "/nonexistent/cifar" in missing[0]


def test_training_chunks_are_package_arithmetic():
    from mosaicfocus.runplan.runs import chunk_ends, chunk_epochs

    assert chunk_ends(200, 100) == [100] and chunk_ends(30, 10) == [10, 20] and chunk_ends(30, 30) == []
    assert (
        chunk_epochs(30, 10) == (21, 30) and chunk_epochs(30, 10, 20) == (11, 20) and chunk_epochs(30, 100) == (1, 30)
    )
    with pytest.raises(ValueError, match=r"No training job ends at epoch 7: .* they end at \[10, 20, 30\]"):
        chunk_epochs(30, 10, 7)
