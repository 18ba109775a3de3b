import pytest
import torch

from resnet_det.config import load_config
from resnet_det.engine.cls_trainer import ClassificationTrainer
from resnet_det.engine.cuda_graph import move_lr_to_device
from resnet_det.engine.det_trainer import DetectionTrainer


def _sgd_run(fused: bool, device: torch.device) -> tuple[torch.Tensor, list[float]]:
    weight = torch.nn.Parameter(torch.linspace(-1, 1, 15, device=device).reshape(5, 3))
    opt = torch.optim.SGD([weight], lr=0.1, momentum=0.9, weight_decay=1e-4, fused=fused or None)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda it: 0.5 ** (it // 3))
    if fused:
        move_lr_to_device(opt, device)
    held = opt.param_groups[0]  # a fused run reads the tensor it captured, as a graph would
    lr = held["lr"] if fused else None
    lrs = []
    for _ in range(10):
        opt.zero_grad(set_to_none=True)
        (weight ** 2).sum().backward()
        opt.step()
        schedule.step()
        lrs.append(float(lr if fused else held["lr"]))
    return weight.detach(), lrs


def test_device_learning_rate_follows_the_schedule_and_trains_as_a_float_one():
    """The scheduler must update the tensor in place (rebinding it would leave a captured graph
    reading a stale value) and never compound the factor into it."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    float_weights, float_lrs = _sgd_run(False, device)
    tensor_weights, tensor_lrs = _sgd_run(True, device)
    assert tensor_lrs == pytest.approx(float_lrs, rel=1e-6) and float_lrs[-1] == pytest.approx(0.0125)
    assert torch.allclose(tensor_weights, float_weights, atol=1e-6)


@pytest.mark.parametrize("trainer, config, extra, reason", [
    (ClassificationTrainer, "configs/demo_cls.yaml", [], "needs a CUDA device"),
    (ClassificationTrainer, "configs/demo_cls.yaml",
     ["INPUT.PROGRESSIVE_RESIZE.ENABLED", "True", "INPUT.PROGRESSIVE_RESIZE.MIN_SIZE", "16"],
     "PROGRESSIVE_RESIZE changes the input size"),
    (DetectionTrainer, "configs/demo.yaml", [], "DetectionTrainer's steps change shape"),
])
def test_cuda_graph_is_refused_where_it_cannot_work(tmp_path, trainer, config, extra, reason):
    cfg = load_config(config, ["OUTPUT_DIR", str(tmp_path), "SOLVER.CUDA_GRAPH", "True", "MODEL.DEVICE", "cpu",
                               *extra])
    with pytest.raises(ValueError, match=f"SOLVER.CUDA_GRAPH cannot be used here: .*{reason}"):
        trainer(cfg)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA device")
@pytest.mark.parametrize("color_aug", ["0.0", "0.1"])
def test_graphed_training_reaches_the_eager_weights(tmp_path, color_aug):
    """3 eager warm-up steps, the capture, then replays; PCA lighting is drawn outside the graph."""
    def train(name, graph):
        cfg = load_config("configs/demo_cls.yaml", [
            "OUTPUT_DIR", str(tmp_path / name), "MODEL.DEVICE", "cuda", "SOLVER.MAX_ITER", "12",
            "SOLVER.STEPS", "(8,)", "SOLVER.WARMUP_ITERS", "2", "SOLVER.IMS_PER_BATCH", "32",
            "SOLVER.CHECKPOINT_PERIOD", "6", "TEST.EVAL_PERIOD", "6", "INPUT.COLOR_AUG", color_aug,
            "SOLVER.CUDA_GRAPH", str(graph)])
        ClassificationTrainer(cfg).train()
        return torch.load(tmp_path / name / "model_final.pth", weights_only=True)["model"]

    eager, graphed = train("eager", False), train("graphed", True)
    midway = torch.load(tmp_path / "graphed" / "model_0000006.pth", weights_only=True)["model"]
    assert any(not torch.equal(midway[k], graphed[k]) for k in graphed)  # replays after step 6 trained
    assert all(torch.allclose(eager[k].float(), graphed[k].float(), atol=1e-4, rtol=1e-3) for k in eager)
