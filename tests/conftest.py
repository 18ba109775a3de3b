"""Shared fixtures: the real datasets beside the project, skipped with a reason when absent."""
from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from hypothesis import settings

# Property tests draw the same examples on every run, so CI cannot turn red by chance; explore new
# ones locally with --hypothesis-seed=N or --hypothesis-profile=explore.
settings.register_profile("ci", derandomize=True, deadline=None)
settings.register_profile("explore", max_examples=1000, deadline=None)
settings.load_profile("ci")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("RESNET_DET_SHARED_DATA", REPO.parent / "shared" / "data"))

# Training from scratch on a CPU drifts values into the denormal range, where x86 backward passes
# ran 50x slower (a detectron2 R50-C4 GN training step: 3 s, then 176 s after 3 SGD steps).
# Set before any op runs, so the intra-op worker threads inherit it (the flag is per thread).
torch.set_flush_denormal(True)


@pytest.fixture(scope="session")
def tool():
    """``tool(name)``: the module ``tools/<name>.py``, so its ``main`` runs in the test process."""
    def load(name: str):
        spec = importlib.util.spec_from_file_location(f"tools_{name}", REPO / "tools" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        # Registered first: dataclasses resolve string annotations through sys.modules.
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        return module
    return load


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real test data not found at {SHARED_DATA} (set RESNET_DET_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _close_run_logs():
    """A tool's run logs to its OUTPUT_DIR/log.txt; the next test's logs do not go there too."""
    import logging
    yield
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_resnet_det", False)]:
        root.removeHandler(handler)
        handler.close()


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory) -> None:
    """Generated datasets go to a per-session folder, not the user's cache."""
    os.environ["RESNET_DET_CACHE"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture
def coco_images(shared_data) -> list[torch.Tensor]:
    """Two real coco128 photos as uint8 RGB CHW tensors."""
    from resnet_det.data.decode.files import read_rgb
    from resnet_det.utils.geometry import hwc_to_chw
    folder = shared_data / "coco128" / "train2017"
    return [hwc_to_chw(read_rgb(p)) for p in sorted(folder.glob("*.jpg"))[:2]]


@pytest.fixture
def tiny_coco():
    """``make(folder, annotations, n_images=3)``: ``n_images`` random 40 x 60 (h x w) PNGs ``1.png``...
    in ``folder`` and the path of a COCO json over them (one category) with the given annotations."""
    def make(folder: Path, annotations: list[dict], n_images: int = 3) -> Path:
        import json

        import cv2
        import numpy as np
        rng = np.random.default_rng(0)
        for i in range(1, n_images + 1):
            cv2.imwrite(str(folder / f"{i}.png"), rng.integers(0, 255, (40, 60, 3), dtype=np.uint8))
        data = {"images": [{"id": i, "file_name": f"{i}.png", "width": 60, "height": 40}
                           for i in range(1, n_images + 1)],
                "annotations": [{"id": n, "iscrowd": 0, "category_id": 1, **a} for n, a in enumerate(annotations, 1)],
                "categories": [{"id": 1, "name": "thing"}]}
        (folder / "tiny.json").write_text(json.dumps(data))
        return folder / "tiny.json"
    return make


def _randomise_norms(module: torch.nn.Module) -> torch.nn.Module:
    """Give every batch norm (trainable or frozen) random statistics and affine parameters: fresh ones
    are the identity in eval mode, which would hide a mis-mapped or mis-folded one."""
    from resnet_det.modeling.norm import FrozenBatchNorm2d
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (torch.nn.BatchNorm2d, FrozenBatchNorm2d)):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
                if getattr(m, "num_batches_tracked", None) is not None:
                    m.num_batches_tracked.fill_(123)
    return module


@pytest.fixture
def randomise_norms():
    return _randomise_norms


# Short CPU runs of the quick-start configs, for the trainer tests.
DEMO_CONFIGS = {"cls": "configs/demo_cls.yaml", "det": "configs/demo.yaml"}
SMALL_RUNS = {
    "cls": ["SOLVER.IMS_PER_BATCH", "32", "SOLVER.MAX_ITER", "30", "SOLVER.STEPS", "(20,)", "SOLVER.WARMUP_ITERS", "5",
            "SOLVER.CHECKPOINT_PERIOD", "10", "TEST.EVAL_PERIOD", "0", "LOG_PERIOD", "5", "DETERMINISTIC", "True"],
    "det": ["MODEL.DEVICE", "cpu", "SOLVER.IMS_PER_BATCH", "2", "SOLVER.MAX_ITER", "4", "SOLVER.STEPS", "(3,)",
            "SOLVER.WARMUP_ITERS", "2", "SOLVER.CHECKPOINT_PERIOD", "2", "LOG_PERIOD", "1",
            "INPUT.MIN_SIZE_TRAIN", "(128,)", "INPUT.MIN_SIZE_TEST", "128", "DATALOADER.NUM_WORKERS", "0",
            "TEST.IMS_PER_BATCH", "2", "DETERMINISTIC", "True"],
}


def _detector_cfg(**overrides):
    """detectron2's C4 defaults (``get_cfg()``) with dotted-key ``overrides``, e.g. ``**{"MODEL.MASK_ON": True}``."""
    from resnet_det.config import get_cfg
    cfg = get_cfg()
    for key, value in overrides.items():
        *path, name = key.split(".")
        node = cfg
        for part in path:
            node = node[part]
        if name not in node:
            raise KeyError(f"no config key {key}")
        node[name] = value
    return cfg


@pytest.fixture
def detector_cfg():
    return _detector_cfg


@pytest.fixture
def small_run_args():
    """``small_run_args(task)``: the command-line arguments (``--config`` and overrides) of a short CPU
    run of the ``"cls"`` or ``"det"`` quick-start config; more ``KEY VALUE`` pairs may follow."""
    return lambda task: ["--config", DEMO_CONFIGS[task], *SMALL_RUNS[task]]


@pytest.fixture
def small_run(small_run_args):
    """``small_run(task, output_dir, *overrides)``: the config of that short run, writing to ``output_dir``."""
    from resnet_det.config import load_config

    def make(task: str, output_dir, *overrides: str):
        _, config, *small = small_run_args(task)
        return load_config(config, [*small, "OUTPUT_DIR", str(output_dir), *overrides])
    return make


@pytest.fixture
def small_trainer(small_run):
    """``small_trainer(task, output_dir, *overrides)``: the trainer of that short run."""
    from resnet_det.engine.cls_trainer import ClassificationTrainer
    from resnet_det.engine.det_trainer import DetectionTrainer
    trainers = {"cls": ClassificationTrainer, "det": DetectionTrainer}
    return lambda task, output_dir, *overrides: trainers[task](small_run(task, output_dir, *overrides))


def _assert_same_final_weights(a, b) -> None:
    """The ``model_final.pth`` of two runs hold the same entries, and equal tensors under equal names
    in their weights and in their weight average (SOLVER.EMA) where they have one."""
    fa, fb = (torch.load(Path(run) / "model_final.pth", weights_only=True) for run in (a, b))
    assert fa.keys() == fb.keys()
    for entry in ("model", "ema"):
        if entry in fa:
            wa, wb = fa[entry], fb[entry]
            assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa), entry


@pytest.fixture
def assert_same_final_weights():
    return _assert_same_final_weights


def _to_caffe2_name(key: str) -> str:
    """ours -> MSRA blob names, written out independently of the converter under test."""
    parts = key.split(".")
    leaf = {"weight": "w", "bias": "b"}[parts[-1]]
    if parts[0] == "linear":
        return f"fc1000_{leaf}"
    if parts[0] == "stem":
        return "res_conv1_bn_" + {"w": "s", "b": "b"}[leaf] if parts[2] == "norm" else f"conv1_{leaf}"
    stage, block, conv = parts[0][3], parts[1], parts[2]
    branch = "branch1" if conv == "shortcut" else "branch2" + "abc"[int(conv[-1]) - 1]
    if parts[3] == "norm":
        return f"res{stage}_{block}_{branch}_bn_" + {"w": "s", "b": "b"}[leaf]
    return f"res{stage}_{block}_{branch}_{leaf}"


def _write_msra_pkl(model: torch.nn.Module, path, extra: dict | None = None):
    """``model`` (ours, with trainable BNs) as an MSRA/Detectron1 ``.pkl`` of caffe2 blobs, its BNs
    folded into a scale and a shift as MSRA's files hold them."""
    import pickle
    blobs = dict(extra or {})
    for mod_name, m in model.named_modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            scale = m.weight / (m.running_var + m.eps).sqrt()
            blobs[_to_caffe2_name(mod_name + ".weight")] = scale.detach().numpy()
            blobs[_to_caffe2_name(mod_name + ".bias")] = (m.bias - m.running_mean * scale).detach().numpy()
        elif isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            for p_name, p in m.named_parameters(recurse=False):
                blobs[_to_caffe2_name(f"{mod_name}.{p_name}")] = p.detach().numpy()
    Path(path).write_bytes(pickle.dumps({"blobs": blobs}))
    return Path(path)


@pytest.fixture
def write_msra_pkl():
    return _write_msra_pkl


@dataclass
class Route:
    """What the loopback server answers for one path. ``length``: the Content-Length declared (None:
    the body's own; ``send_length`` False: none, the end of the body is the end of the connection);
    ``delay``: seconds before each byte of the body (a trickling server), or before the first only
    with ``stall``."""

    status: int = 200
    content_type: str = "application/octet-stream"
    body: bytes = b""
    length: int | None = None
    send_length: bool = True
    delay: float = 0.0
    stall: bool = False
    header_delay: float = 0.0  # seconds before each of 100 header lines (a server that trickles its headers)


class _FileServer:
    """A loopback HTTP server: ``routes[path] = Route(...)`` or ``(status, content type, body, declared
    length or None)``; ``requests`` lists the paths asked for."""

    def __init__(self) -> None:
        import http.server
        import threading

        self.routes: dict[str, Route | tuple[int, str, bytes, int | None]] = {}
        self.requests: list[str] = []
        self.stopping = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                route = server.routes.get(self.path, Route(404, "text/plain", b"not found"))
                route = route if isinstance(route, Route) else Route(*route)
                self.send_response(route.status)
                for i in range(100 if route.header_delay else 0):
                    if server.stopping.wait(route.header_delay):
                        return
                    self.send_header("X-Slow", str(i))
                    self.flush_headers()
                self.send_header("Content-Type", route.content_type)
                if route.send_length:
                    self.send_header("Content-Length", str(len(route.body) if route.length is None else route.length))
                self.end_headers()
                self.close_connection = True  # a short body then ends the connection early
                try:
                    if not route.delay:
                        self.wfile.write(route.body)
                    for i in range(len(route.body) if route.delay else 0):
                        if server.stopping.wait(route.delay if i == 0 or not route.stall else 0):
                            return
                        self.wfile.write(route.body[i:i + 1])
                        self.wfile.flush()
                except OSError:  # the client gave up
                    pass

            def log_message(self, *args) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def serve(self, path: str, body: bytes, **how) -> str:
        """Answer ``path`` with ``body`` as ``Route(body=body, **how)`` says; return its URL."""
        self.routes[path] = Route(body=body, **how)
        return self.url + path


@pytest.fixture
def http_files():
    server = _FileServer()
    yield server
    server.stopping.set()
    server.httpd.shutdown()
    server.httpd.server_close()


def _random_affine(norm: torch.nn.Module) -> None:
    norm.weight.uniform_(0.5, 1.5)
    norm.bias.uniform_(-0.2, 0.2)


def _calibrate_frozen_bn(module: torch.nn.Module, x: torch.Tensor):
    """Give every frozen BN the statistics of its input on ``x`` and a random affine, so a randomly
    initialised trunk keeps normalised activations (its identity BNs would otherwise let them blow up)."""
    from resnet_det.modeling.norm import calibrate_frozen_norms
    return calibrate_frozen_norms(module, lambda: module(x), _random_affine)


@pytest.fixture
def calibrate_frozen_bn():
    return _calibrate_frozen_bn


def _assert_same_detections(expected, got) -> None:
    """Equal :class:`Instances` up to float rounding (box IoU above 0.99 and coordinates within 0.1 px,
    scores within 0.1%, mask IoU above 0.99), matched as sets: detections with equal scores can
    leave NMS in either order. Rounding weighs more on small boxes, which random weights make:
    boxes under a pixel thin are held to the 0.1 px alone (a 0.001 px shift moves their IoU by
    1%), and masks of boxes under 16 px on a side, a pixel or so per mask cell, to IoU 0.95 or at most 2
    pixels apart."""
    from torchvision.ops import box_iou
    assert len(got.boxes) == len(expected.boxes)
    iou = box_iou(expected.boxes, got.boxes)
    iou[expected.labels[:, None] != got.labels[None]] = 0
    best_iou, match = iou.max(dim=1)
    sides = expected.boxes[:, 2:] - expected.boxes[:, :2]
    thin = (sides < 1).any(dim=1)
    same = (best_iou > 0.99) | (thin & (best_iou > 0))
    # Slivers' NMS decisions can change who fills the last places before the top-k cut: a few
    # detections scored within 2% of the last one may be another.
    at_cut = expected.scores <= 1.02 * expected.scores.min()
    assert (same | at_cut).all() and (~same).sum() <= 3, best_iou[~same]
    match, sides, thin = match[same], sides[same], thin[same]
    assert len(set(match.tolist())) == len(match)
    assert (got.boxes[match] - expected.boxes[same]).abs().max() < 0.1
    # Twin slivers a hair apart can pair crosswise; their scores are not compared.
    assert torch.allclose(got.scores[match][~thin], expected.scores[same][~thin], rtol=1e-3, atol=0)
    if expected.masks is not None:
        a, b = expected.masks[same], got.masks[match]
        inter, union = (a & b).flatten(1).sum(1), (a | b).flatten(1).sum(1)
        mask_iou = torch.where(union > 0, inter / union.clamp(min=1), 1.0)  # both empty: agree
        # A box under 16 px on a side has a mask a pixel or two thick, every pixel of it an edge one.
        small = (sides < 16).any(dim=1)
        edge_rounding = (mask_iou > 0.95) | ((a ^ b).flatten(1).sum(1) <= 2)
        assert ((mask_iou > 0.99) | (small & edge_rounding)).all(), mask_iou.min()


@pytest.fixture
def assert_same_detections():
    return _assert_same_detections


def _save_random_weights(task: str, path: Path, classes: tuple[str, ...] | None) -> Path:
    """A randomly initialised quick-start model (``"det"`` or ``"cls"``) saved as a resnet_det
    checkpoint, as a trainer would, with the ``classes`` it records."""
    from resnet_det import build_detector
    from resnet_det.config import load_config
    from resnet_det.modeling.registry import build_classifier
    from resnet_det.weights import Weights, save_weights
    cfg = load_config(DEMO_CONFIGS[task])
    torch.manual_seed(0)
    model = build_detector(cfg) if task == "det" else _randomise_norms(build_classifier(cfg))
    return save_weights(Weights(model.state_dict(), cfg.MODEL.WEIGHT_STYLE, classes=classes), path)


@pytest.fixture(scope="session")
def demo_weights(tmp_path_factory):
    """``demo_weights(task)``: the path of a random-weight checkpoint of that quick-start config."""
    folder = tmp_path_factory.mktemp("weights")
    names = {"det": ("circle", "square", "triangle"), "cls": None}
    made: dict[str, Path] = {}

    def get(task: str) -> Path:
        if task not in made:
            made[task] = _save_random_weights(task, folder / f"{task}.pth", names[task])
        return made[task]
    return get
