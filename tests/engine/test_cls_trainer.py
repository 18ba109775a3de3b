import json

import pytest
import torch

from resnet_det.config import load_config
from resnet_det.data.datasets.shapes import SHAPES
from resnet_det.engine.cls_trainer import ClassificationTrainer
from resnet_det.engine.hooks import NonFiniteLossError
from resnet_det.modeling.registry import build_classifier


def _final_state(path):
    return torch.load(path / "model_final.pth", weights_only=True)["model"]


def test_demo_learns_and_writes_outputs(tmp_path, small_run):
    cfg = small_run("cls", tmp_path, "SOLVER.MAX_ITER", "150", "SOLVER.STEPS", "(120,)", "SOLVER.IMS_PER_BATCH", "64")
    trainer = ClassificationTrainer(cfg)
    before = trainer.test()["shapes_test"]["classification"]["top1_error"]
    metrics = trainer.train()
    # 10 balanced classes: chance is 90% error. 150 steps of ResNet-20 get far below it.
    assert before > 70
    assert metrics["results"]["shapes_test"]["classification"]["top1_error"] < 30
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["results"] == metrics["results"] and saved["iterations"] == 150
    log = [json.loads(line) for line in (tmp_path / "metrics.json").read_text().splitlines()]
    assert log[0]["loss"] > log[-2]["loss"]
    ckpt = torch.load(tmp_path / "model_final.pth", weights_only=True)
    assert ckpt["meta"] == {"format": "resnet_det", "weight_style": "torchvision", "arch": "cifar_resnet20",
                            "classes": list(SHAPES)}  # the names a predictor gives its outputs


def test_compiled_model_trains_to_the_same_weights(tmp_path, small_run):
    ClassificationTrainer(small_run("cls", tmp_path / "eager", "SOLVER.MAX_ITER", "3")).train()
    # The eager backend traces the model as inductor would, then runs the captured graph as is.
    compiled = ClassificationTrainer(small_run("cls", tmp_path / "compiled", "SOLVER.MAX_ITER", "3",
                                               "MODEL.COMPILE.ENABLED", "True", "MODEL.COMPILE.BACKEND", "eager"))
    assert compiled.model._compiled_call_impl is not None
    compiled.train()
    a, b = _final_state(tmp_path / "eager"), _final_state(tmp_path / "compiled")
    assert a.keys() == b.keys() and all(torch.allclose(a[k].float(), b[k].float(), atol=1e-6) for k in a)


def test_nonfinite_loss_stops_and_keeps_last_checkpoint(tmp_path, monkeypatch, small_run):
    trainer = ClassificationTrainer(small_run("cls", tmp_path, "SOLVER.CHECKPOINT_PERIOD", "2", "LOG_PERIOD", "1"))
    real_predict, calls = trainer.predict, []

    def nan_from_step_5(model, images):
        calls.append(1)
        logits = real_predict(model, images)
        return logits * float("nan") if len(calls) > 5 else logits

    monkeypatch.setattr(trainer, "predict", nan_from_step_5)
    with pytest.raises(NonFiniteLossError, match="NaN/Inf by iteration 6") as err:
        trainer.train()
    assert "model_0000004.pth" in str(err.value)
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000004.pth"
    state = torch.load(tmp_path / "model_0000004.pth", weights_only=True)["model"]
    assert all(v.isfinite().all() for v in state.values() if v.is_floating_point())


def test_diverging_weights_are_never_checkpointed(tmp_path, small_run):
    trainer = ClassificationTrainer(small_run("cls", tmp_path, "SOLVER.BASE_LR", "1e12", "SOLVER.WARMUP_ITERS", "0",
                                         "SOLVER.CHECKPOINT_PERIOD", "2", "LOG_PERIOD", "1"))
    with pytest.raises(NonFiniteLossError, match="none yet"):
        trainer.train()
    assert not list(tmp_path.glob("*.pth"))


CPU = ["MODEL.DEVICE", "cpu", "SOLVER.AMP.ENABLED", "False"]


@pytest.fixture
def cifar_root(shared_data, tmp_path):
    (tmp_path / "cifar10_jpeg.tar.gz").symlink_to(shared_data / "cifar10_jpeg.tar.gz")
    return tmp_path


def test_resnet20_learns_real_cifar10(cifar_root):
    # 300 iterations (0.77 epochs) of the paper's recipe with a short schedule, per-pixel mean
    # included. Measured on a 2-core CPU: 45.3% test error (chance: 90%); the bar leaves room for
    # other CPUs' arithmetic.
    cfg = load_config("configs/cifar_resnet20.yaml", [
        *CPU, "DATASETS.ROOT", str(cifar_root), "OUTPUT_DIR", str(cifar_root / "out"), "SOLVER.MAX_ITER", "300",
        "SOLVER.STEPS", "(250,)", "SOLVER.WARMUP_ITERS", "30", "TEST.EVAL_PERIOD", "0"])
    result = ClassificationTrainer(cfg).train()["results"]["cifar10_test"]["classification"]
    assert result["num_images"] == 10000
    assert result["top1_error"] < 55


@pytest.mark.parametrize("name", ["cifar_resnet20", "cifar_resnet110", "cifar_plain56", "imagenet_r50",
                                  "imagenet_plain34", "imagenet_r50_modern", "imagenet_r50_tv2", "imagenet_r101_tv2",
                                  "imagenet_r50_fast"])
def test_shipped_configs_build(name):
    cfg = load_config(f"configs/{name}.yaml", CPU)
    assert cfg.MODEL.ARCH in name.replace("imagenet_r", "resnet").replace("imagenet_", "")
    model = build_classifier(cfg)
    assert model.linear.out_features == cfg.MODEL.NUM_CLASSES


def test_gradient_clipping_bounds_the_first_update(tmp_path, small_run):
    clip = 1e-4
    cfg = small_run("cls", tmp_path, "SOLVER.MAX_ITER", "1", "SOLVER.WARMUP_ITERS", "0", "SOLVER.WEIGHT_DECAY", "0.0",
               "SOLVER.WEIGHT_DECAY_NORM", "0.0",
               "SOLVER.CLIP_GRADIENTS.ENABLED", "True", "SOLVER.CLIP_GRADIENTS.CLIP_TYPE", "value",
               "SOLVER.CLIP_GRADIENTS.CLIP_VALUE", str(clip))
    trainer = ClassificationTrainer(cfg)
    before = {k: v.clone() for k, v in trainer.model.named_parameters()}
    trainer.train()
    # First SGD step: delta = lr * clipped gradient, so no element moves by more than lr * clip
    # (plus float32 rounding of w - delta; unclipped, this step moves weights by ~1e-3).
    biggest = max((p - before[k]).abs().max().item() for k, p in trainer.model.named_parameters())
    assert 0 < biggest <= 1.5 * cfg.SOLVER.BASE_LR * clip


def test_colour_noise_comes_with_each_iteration_batch(tmp_path, small_run):
    """PCA lighting is drawn from the iteration, so a resumed run gets the noise the straight one did."""
    trainer = ClassificationTrainer(small_run("cls", tmp_path, "INPUT.COLOR_AUG", "0.1"))
    from_4, from_5 = trainer.iterate_batches(4), trainer.iterate_batches(5)
    next(from_4)
    resumed, straight = next(from_5), next(from_4)
    plain = trainer.train_loader.get(5)
    assert torch.equal(resumed.images, straight.images) and torch.equal(resumed.labels, plain.labels)
    shift = resumed.images - plain.images.float()  # one colour per image, not zero
    assert torch.allclose(shift, shift[:, :, :1, :1].expand_as(shift), atol=1e-4) and shift.abs().max() > 0.1


def test_per_pixel_mean_comes_from_the_training_set_and_travels_in_checkpoints(tmp_path, small_run):
    from resnet_det.data.datasets.classification import load_classification_dataset
    from resnet_det.inference.predictor import Predictor
    cfg = small_run("cls", tmp_path, "INPUT.NORMALIZE", "per_pixel_mean", "SOLVER.MAX_ITER", "2")
    ClassificationTrainer(cfg).train()
    images = load_classification_dataset("shapes_train").images
    mean = _final_state(tmp_path)["stem.pixel_mean"]
    expected = torch.from_numpy(images).double().mean(dim=0).permute(2, 0, 1).float()
    torch.testing.assert_close(mean, expected)
    predictor = Predictor(cfg, str(tmp_path / "model_final.pth"), device="cpu")
    picture = torch.from_numpy(images[0]).permute(2, 0, 1)
    with torch.no_grad():  # the network sees raw pixels minus the mean image, no style mean or std
        probs = predictor.model(picture[None].float()).softmax(dim=1)[0]
    result = predictor(picture)
    torch.testing.assert_close(result.probabilities, probs[result.indices])


def test_per_pixel_mean_and_progressive_resizing_are_refused_together(tmp_path, small_run):
    cfg = small_run("cls", tmp_path, "INPUT.NORMALIZE", "per_pixel_mean", "INPUT.PROGRESSIVE_RESIZE.ENABLED", "True",
                    "INPUT.PROGRESSIVE_RESIZE.MIN_SIZE", "16")
    with pytest.raises(ValueError, match="per_pixel_mean subtracts an image of one size; INPUT.PROGRESSIVE_RESIZE"):
        ClassificationTrainer(cfg).train()


def test_per_pixel_mean_is_for_cifar_nets():
    cfg = load_config("configs/imagenet_r18.yaml", [*CPU, "INPUT.NORMALIZE", "per_pixel_mean"])
    with pytest.raises(ValueError, match="CIFAR nets"):
        build_classifier(cfg)


def test_progressive_resizing_trains_small_and_a_test_flip_scores_both_views(tmp_path, small_run):
    from resnet_det.inference.predictor import Predictor
    cfg = small_run("cls", tmp_path, "INPUT.PROGRESSIVE_RESIZE.ENABLED", "True", "INPUT.PROGRESSIVE_RESIZE.MIN_SIZE",
                    "16", "INPUT.PROGRESSIVE_RESIZE.END_EPOCH", "1", "INPUT.PROGRESSIVE_RESIZE.MULTIPLE", "8",
                    "TEST.FLIP", "True", "SOLVER.MAX_ITER", "3")
    trainer = ClassificationTrainer(cfg)
    per_epoch = trainer.train_loader.stream.iterations_per_epoch
    assert [next(trainer.iterate_batches(it)).images.shape[-1] for it in (0, per_epoch - 1, per_epoch)] == [16, 16, 32]
    seen: list[tuple[int, ...]] = []
    trainer.model.register_forward_pre_hook(lambda _, args: seen.append(tuple(args[0].shape)))
    trainer.train()
    # Three steps on 16 x 16 crops, then the test: each batch of 32 x 32 images twice, as is and mirrored.
    assert seen[:3] == [(32, 3, 16, 16)] * 3 and seen[3] == seen[4] == (500, 3, 32, 32)
    predictor = Predictor(cfg, str(tmp_path / "model_final.pth"), device="cpu")
    picture = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
    with torch.no_grad():
        both = predictor.model(predictor.normalize(torch.stack([picture, picture.flip(-1)]))).softmax(dim=1).mean(0)
    result = predictor(picture)
    torch.testing.assert_close(result.probabilities, both[result.indices])
