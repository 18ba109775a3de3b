import torch

from resnet_det.weights import load_weights


def test_the_tool_rewrites_only_the_statistics(tool, demo_weights, tmp_path):
    out = tmp_path / "precise.pth"
    args = ["--config", "demo_cls", "--weights", str(demo_weights("cls")), "--output", str(out), "--num-iter", "3",
            "MODEL.DEVICE", "cpu"]
    assert tool("precise_bn").main(args) == 0
    before, after = load_weights(demo_weights("cls")), load_weights(out)
    assert after.weight_style == before.weight_style and after.arch == "cifar_resnet20"
    changed = [k for k in before.state_dict if not torch.equal(before.state_dict[k], after.state_dict[k])]
    assert changed and all("running_" in k or "num_batches" in k for k in changed)
