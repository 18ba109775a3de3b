import cv2
import numpy as np
import pytest
import torch

from resnet_det import Predictor, build_detector
from resnet_det.config import load_config
from resnet_det.data.datasets.shapes import SHAPES
from resnet_det.inference.predictor import class_names, is_classification_config
from resnet_det.modeling.preprocess import Normalize
from resnet_det.modeling.registry import build_classifier
from resnet_det.weights import Weights, WeightsFileError, load_weights, save_weights


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    """Three 120 x 150 noisy pictures with bright squares, as files."""
    folder = tmp_path_factory.mktemp("pictures")
    rng = np.random.default_rng(0)
    paths = []
    for i in range(3):
        image = rng.integers(0, 80, (120, 150, 3), dtype=np.uint8)
        image[20 + 10 * i:70 + 10 * i, 30:90] = 230
        paths.append(folder / f"{i}.png")
        cv2.imwrite(str(paths[-1]), image)
    return paths


@pytest.fixture(scope="module")
def detector_predictor(demo_weights):
    return Predictor("demo", demo_weights("det"), device="cpu", overrides=["MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0"])


def test_detector_predictions_are_the_model_s_on_the_same_pixels(detector_predictor, demo_weights, pictures):
    cfg = load_config("demo", ["MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0"])
    model = build_detector(cfg)
    model.load_state_dict(load_weights(demo_weights("det")).state_dict)
    image = torch.from_numpy(cv2.imread(str(pictures[0]))[:, :, ::-1].copy()).permute(2, 0, 1)
    with torch.no_grad():
        expected = model.eval()([image])[0]
    got = detector_predictor(pictures[0])
    assert len(got) > 0 and got.masks.shape[1:] == (120, 150)  # in the caller's pixels
    assert torch.equal(got.boxes, expected.boxes) and torch.equal(got.labels, expected.labels)
    assert torch.equal(got.masks, expected.masks) and got.boxes.device.type == "cpu"


def test_a_batch_gives_what_each_image_gives_alone(detector_predictor, pictures):
    batch = detector_predictor([str(p) for p in pictures], batch_size=3)
    for path, det in zip(pictures, batch):
        alone = detector_predictor(cv2.imread(str(path)), channel_order="BGR")
        assert torch.allclose(det.boxes, alone.boxes, atol=1e-3) and torch.equal(det.labels, alone.labels)


def test_class_names_come_from_the_checkpoint_then_the_datasets():
    assert class_names(3, ("a", "b", "c"), ["shapes_det_val"]) == ("a", "b", "c")
    assert class_names(3, None, ["shapes_det_val"]) == ("circle", "square", "triangle")
    assert class_names(10, ("a",), ["unknown_set", "cifar10_test"])[0] == "airplane"  # a wrong count is passed over
    assert class_names(2, None, ["voc_2007_test"]) == ("class 0", "class 1")
    assert is_classification_config(load_config("demo_cls")) and not is_classification_config(load_config("demo"))


def test_classifier_gives_the_top_five_of_the_trainer_s_test_view(demo_weights, pictures):
    predictor = Predictor("demo_cls", demo_weights("cls"), device="cpu")
    result = predictor(pictures[1])
    cfg = load_config("demo_cls")
    model = build_classifier(cfg)
    model.load_state_dict(load_weights(demo_weights("cls")).state_dict)
    rgb = cv2.imread(str(pictures[1]))[:, :, ::-1]
    view = torch.from_numpy(cv2.resize(rgb, (32, 32), interpolation=cv2.INTER_AREA)).permute(2, 0, 1)[None]
    with torch.no_grad():
        probs = model.eval()(Normalize("torchvision")(view)).softmax(1)[0]
    top = probs.topk(5)
    assert torch.equal(result.indices, top.indices) and torch.allclose(result.probabilities, top.values)
    assert result.names == tuple(SHAPES[i] for i in top.indices)  # no classes in the checkpoint: the dataset's


def _imagenet_r18(tmp_path, mode: str, flip: bool) -> tuple[list[str], str]:
    cfg = ["MODEL.ARCH", "resnet18", "MODEL.NUM_CLASSES", "10", "TEST.MODE", mode, "TEST.RESIZE", "40",
           "TEST.CROP_SIZE", "32", "TEST.SCALES", "(32, 48)", "MODEL.WEIGHT_STYLE", "torchvision",
           "TEST.FLIP", str(flip)]
    model = build_classifier(load_config("imagenet_r18", cfg))
    return cfg, save_weights(Weights(model.state_dict(), "torchvision"), tmp_path / "r18.pth")


@pytest.mark.parametrize("mode, flip, num_views", [("center", False, 1), ("center", True, 2), ("10crop", False, 10),
                                                   ("multiscale", False, 4)])
def test_imagenet_test_modes_average_their_views(tmp_path, mode, flip, num_views):
    """A torchvision-named classifier under an ImageNet config: its crops or scales all run."""
    cfg, path = _imagenet_r18(tmp_path, mode, flip)
    predictor = Predictor("imagenet_r18", path, device="cpu", overrides=cfg, top_k=3)
    image = np.random.default_rng(2).integers(0, 255, (50, 70, 3), dtype=np.uint8)
    views = predictor.test_views(image)
    assert len(views) == num_views
    batch = torch.from_numpy(np.stack(views) if mode != "multiscale" else views[0][None]).permute(0, 3, 1, 2)
    result = predictor(image)
    assert result.probabilities.shape == (3,) and (result.probabilities.diff() <= 0).all()
    if mode != "multiscale":
        with torch.no_grad():
            expected = predictor.model(predictor.normalize(batch)).softmax(1).mean(0)
        assert torch.allclose(result.probabilities, expected.topk(3).values, atol=1e-6)


def test_a_test_flip_beside_mirrored_views_is_refused_at_construction(tmp_path):
    cfg, path = _imagenet_r18(tmp_path, "10crop", True)
    with pytest.raises(ValueError, match="10crop holds them already .set TEST.FLIP False"):
        Predictor("imagenet_r18", path, device="cpu", overrides=cfg)


def test_refuses_weights_that_cannot_predict(tmp_path, demo_weights):
    detector = load_weights(demo_weights("det")).state_dict
    trunk = {k.removeprefix("backbone.").removeprefix("roi_heads."): v for k, v in detector.items()
             if k.startswith(("backbone.", "roi_heads.res5"))}
    path = save_weights(Weights(trunk, "torchvision"), tmp_path / "backbone.pth")  # what a classifier leaves
    with pytest.raises(WeightsFileError, match="backbone.pth holds a backbone, not a trained detector"):
        Predictor("demo", path, device="cpu")
    with pytest.raises(ValueError, match="no weights"):
        Predictor("demo", device="cpu")
    with pytest.raises(WeightsFileError, match="missing.pth"):
        Predictor("demo", tmp_path / "missing.pth", device="cpu")


def test_arrays_and_tensors_meet_the_pixel_limit_of_files(detector_predictor):
    from resnet_det.data.decode.files import ImageDecodeError
    huge = np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (20000, 20000, 3))  # 1.2 GB as a copy; none is made
    for image in (huge, torch.from_numpy(huge).permute(2, 0, 1)):
        with pytest.raises(ImageDecodeError, match="20000 x 20000 image .* over the limit of 100 megapixels"):
            detector_predictor(image)


def test_an_image_too_thin_to_resize_is_refused_by_name(detector_predictor, tmp_path):
    from resnet_det.utils.geometry import ImageSizeError
    thin = np.zeros((1, 3000, 3), np.uint8)
    cv2.imwrite(str(tmp_path / "thin.png"), thin)
    with pytest.raises(ImageSizeError, match=r"image 1: 1 x 3000 image would be resized to 0 x 400"):
        detector_predictor([np.zeros((50, 50, 3), np.uint8), thin])
    with pytest.raises(ImageSizeError, match=r"thin.png: 1 x 3000 image would be resized to 0 x 400"):
        detector_predictor(tmp_path / "thin.png")
