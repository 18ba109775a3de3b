import os
import pickle
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
import torchvision

from resnet_det import build_model
from resnet_det.weights import (
    Weights,
    WeightsFileError,
    WeightsMismatchError,
    caffe2_to_resnet_det,
    detect_format,
    get_weight_style,
    infer_arch,
    load_state_dict_checked,
    load_weights,
    save_weights,
    torchvision_to_resnet_det,
)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _assert_state_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
        assert torch.equal(a[k], b[k]), k


@pytest.mark.parametrize("style", ["caffe", "torchvision"])
@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_detectron2_pkl_round_trip_is_bit_exact(tmp_path, name, style, randomise_norms):
    model = randomise_norms(build_model(name, stride_in_1x1=get_weight_style(style).stride_in_1x1)).eval()
    save_weights(Weights(model.state_dict(), style, name), tmp_path / "w.pkl", "detectron2")
    raw = pickle.load(open(tmp_path / "w.pkl", "rb"))
    assert raw["matching_heuristics"] and isinstance(raw["model"]["res2.0.conv1.weight"], np.ndarray)
    # BN step counters stay behind: detectron2 checkpoints have none, and they are not weights.
    expected = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    assert len(expected) < len(model.state_dict()) and sorted(raw["model"]) == sorted(expected)
    back = load_weights(tmp_path / "w.pkl")
    assert (back.source_format, back.weight_style, back.arch) == ("detectron2", style, name)
    _assert_state_equal(back.state_dict, expected)
    save_weights(back, tmp_path / "w.pth", "resnet_det")
    again = load_weights(tmp_path / "w.pth")
    assert (again.source_format, again.weight_style) == ("resnet_det", style)
    _assert_state_equal(again.state_dict, expected)


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_msra_caffe2_blobs_load_with_folded_batchnorm(tmp_path, name, randomise_norms, write_msra_pkl):
    ref = randomise_norms(build_model(name, stride_in_1x1=True)).eval()
    write_msra_pkl(ref, tmp_path / "R.pkl", {"res2_0_branch2a_w_momentum": np.zeros(1)})  # solver state: skipped
    w = load_weights(tmp_path / "R.pkl")
    assert (w.source_format, w.weight_style, w.arch) == ("caffe2", "caffe", name)
    model = build_model(name, stride_in_1x1=True).eval()
    load_state_dict_checked(model, w.state_dict)
    x = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        assert torch.allclose(model(x), ref(x), atol=1e-4, rtol=1e-4)


def test_caffe2_names():
    names = ["conv1_w", "res_conv1_bn_s", "res2_0_branch2a_w", "res3_0_branch1_bn_b", "fc1000_w"]
    out = caffe2_to_resnet_det({n: np.ones(4, np.float32) for n in names})
    assert {"stem.conv1.weight", "stem.conv1.norm.weight", "res2.0.conv1.weight",
            "res3.0.shortcut.norm.bias", "linear.weight"} <= out.keys()
    with pytest.raises(WeightsFileError, match="unexpected MSRA"):
        caffe2_to_resnet_det({"res2_0_branch2z_w": np.ones(1)})


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("suffix", [".pkl", ".pth"])
def test_code_in_a_pickle_never_runs(tmp_path, suffix):
    marker = tmp_path / "pwned"
    path = tmp_path / f"evil{suffix}"
    payload = {"model": {"stem.conv1.weight": _Evil(marker)}}
    if suffix == ".pkl":
        path.write_bytes(pickle.dumps(payload))
    else:
        torch.save(payload, path)
    with pytest.raises(WeightsFileError, match="refused to load") as err:
        load_weights(path)
    assert str(path) in str(err.value)
    assert not marker.exists()
    result = subprocess.run([sys.executable, f"{REPO}/tools/convert_weights.py", str(path),
                             str(tmp_path / "out.pth"), "--to", "resnet_det"], capture_output=True, text=True)
    assert result.returncode == 1 and "refused to load" in result.stderr
    assert not marker.exists() and not (tmp_path / "out.pth").exists()


def test_format_detection():
    tv = torchvision.models.resnet18().state_dict()
    ours = build_model("resnet18").state_dict()
    assert detect_format(tv) == "torchvision"
    assert detect_format({"state_dict": tv}) == "torchvision"
    assert detect_format(ours) == "resnet_det"
    assert detect_format({"model": ours, "__author__": "x"}) == "detectron2"
    assert detect_format({"conv1_w": 0, "res2_0_branch2a_w": 0}) == "caffe2"
    with pytest.raises(WeightsFileError, match="cannot tell"):
        detect_format({"foo": 1})


def test_unreadable_and_missing_files_name_the_file(tmp_path):
    with pytest.raises(WeightsFileError, match="no such weights file"):
        load_weights(tmp_path / "nope.pth")
    bad = tmp_path / "truncated.pth"
    bad.write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(WeightsFileError, match="truncated.pth"):
        load_weights(bad)


def test_torchvision_export_refuses_caffe_bottlenecks(tmp_path):
    w = Weights(build_model("resnet50", stride_in_1x1=True).state_dict(), "caffe", "resnet50")
    with pytest.raises(WeightsFileError, match="stride"):
        save_weights(w, tmp_path / "tv.pth", "torchvision")
    assert not (tmp_path / "tv.pth").exists()


def test_mismatch_report_lists_every_problem():
    r18 = build_model("resnet18").state_dict()
    with pytest.raises(WeightsMismatchError) as err:
        load_state_dict_checked(build_model("resnet18", num_classes=10), r18)
    assert "linear.weight: model (10, 512), checkpoint (1000, 512)" in str(err.value)
    report = load_state_dict_checked(build_model("resnet34"), r18, strict=False)
    assert "res3.3.conv1.weight" in report.missing and not report.unexpected and not report.ok
    report = load_state_dict_checked(build_model("resnet18", out_features=["res4"], num_classes=0), r18,
                                     strict=False)
    assert "res5.0.conv1.weight" in report.unexpected and "linear.weight" in report.unexpected


def test_infer_arch():
    for name in ("resnet18", "resnet34", "resnet50", "resnet101", "cifar_resnet56"):
        assert infer_arch(build_model(name).state_dict()) == name
    assert infer_arch({"foo": 1}) is None


def test_convert_tool_round_trips_torchvision(tmp_path):
    tv = torchvision.models.resnet50()
    torch.save(tv.state_dict(), tmp_path / "tv.pth")
    tool = [sys.executable, f"{REPO}/tools/convert_weights.py"]
    steps = [("tv.pth", "d2.pkl", "detectron2"), ("d2.pkl", "ours.pth", "resnet_det"),
             ("ours.pth", "tv2.pth", "torchvision")]
    for src, dst, fmt in steps:
        subprocess.run([*tool, str(tmp_path / src), str(tmp_path / dst), "--to", fmt], check=True,
                       capture_output=True)
    assert load_weights(tmp_path / "ours.pth").weight_style == "torchvision"
    back = torch.load(tmp_path / "tv2.pth", weights_only=True)
    # The detectron2 step drops BN step counters; torchvision loads the rest strictly.
    _assert_state_equal(back, {k: v for k, v in tv.state_dict().items() if not k.endswith("num_batches_tracked")})
    torchvision.models.resnet50().load_state_dict(back, strict=True)


@pytest.mark.parametrize("prefix", ["backbone.", "module.", "module.encoder_q."])
def test_a_wrapped_resnet_is_refused_with_the_prefix_to_strip_then_converts(tmp_path, prefix):
    tv = torchvision.models.resnet18().state_dict()
    wrapped = {prefix + k: v for k, v in tv.items()}
    if prefix == "module.encoder_q.":
        wrapped["module.queue"] = torch.zeros(128, 16)  # MoCo keeps its queue beside the encoder
    torch.save({"state_dict": wrapped}, tmp_path / "wrapped.pth")
    escaped = re.escape(prefix)
    with pytest.raises(WeightsFileError, match=f"keys start with '{escaped}'.*--strip-prefix {escaped}"):
        load_weights(tmp_path / "wrapped.pth")
    weights = load_weights(tmp_path / "wrapped.pth", strip=prefix)
    assert weights.source_format == "torchvision" and weights.arch == "resnet18"
    _assert_state_equal(weights.state_dict, torchvision_to_resnet_det(tv))


def test_an_unknown_layout_is_refused_naming_what_it_holds(tmp_path):
    torch.save({"encoder.blocks.0.attn.qkv.weight": torch.zeros(3)}, tmp_path / "vit.pth")
    with pytest.raises(WeightsFileError, match=r"vit.pth: cannot tell .* 1 keys .*encoder.blocks.0.attn.qkv.weight"):
        load_weights(tmp_path / "vit.pth")


@pytest.mark.parametrize("to", ["detectron2", "resnet_det", "torchvision"])
def test_a_bare_state_dict_of_our_own_model_converts(tmp_path, tool, to):
    model = build_model("resnet18")
    torch.save(model.state_dict(), tmp_path / "r18.pth")  # the commonest input there is: no meta at all
    out = tmp_path / ("out.pkl" if to == "detectron2" else "out.pth")
    assert tool("convert_weights").main([str(tmp_path / "r18.pth"), str(out), "--to", to]) == 0
    back = load_weights(out)
    assert back.arch == "resnet18"
    _assert_state_equal({k: v for k, v in back.state_dict.items() if not k.endswith("num_batches_tracked")},
                        {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")})


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_weights_with_non_finite_values_are_refused_naming_the_first_bad_tensor(tmp_path, bad):
    state = build_model("resnet18").state_dict()
    state["res4.1.conv2.weight"][0, 0, 0, 0] = bad
    torch.save(state, tmp_path / "diverged.pth")
    with pytest.raises(WeightsFileError, match=r"diverged.pth: tensor res4.1.conv2.weight holds NaN or infinite"):
        load_weights(tmp_path / "diverged.pth")
