import pytest

from resnet_det.config import ConfigError, ConfigValueError, get_cfg, load_config


def test_base_inheritance_and_overrides(tmp_path):
    (tmp_path / "base.yaml").write_text("SOLVER:\n  BASE_LR: 0.5\n  MAX_ITER: 10\n")
    (tmp_path / "child.yaml").write_text("_BASE_: base.yaml\nSOLVER:\n  MAX_ITER: 20\n")
    cfg = load_config(tmp_path / "child.yaml", ["SOLVER.STEPS", "(5, 8)"])
    assert (cfg.SOLVER.BASE_LR, cfg.SOLVER.MAX_ITER, cfg.SOLVER.STEPS) == (0.5, 20, (5, 8))
    assert get_cfg().SOLVER.MAX_ITER == 270000  # defaults untouched


def test_unknown_keys_and_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="SOLVER.BASE_LRR; did you mean SOLVER.BASE_LR"):
        load_config(None, ["SOLVER.BASE_LRR", "1"])
    (tmp_path / "typo.yaml").write_text("SOLVER:\n  MAX_ITR: 5\n")
    with pytest.raises(ConfigError, match="typo.yaml: unknown config key SOLVER.MAX_ITR; did you mean SOLVER.MAX_ITER"):
        load_config(tmp_path / "typo.yaml")
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load_config(tmp_path / "nope.yaml")
    (tmp_path / "child.yaml").write_text("_BASE_: gone.yaml\n")
    with pytest.raises(FileNotFoundError, match="child.yaml: its _BASE_ config .*gone.yaml was not found"):
        load_config(tmp_path / "child.yaml")


@pytest.mark.parametrize("yaml_text,overrides,message", [
    ("SOLVER:\n  MAX_ITER: many\n", [], "bad.yaml: SOLVER.MAX_ITER must be int like its default 270000, got 'many'"),
    ("SOLVER:\n  MAX_ITER: [1\n", [], "bad.yaml: not valid YAML"),
    ("", [], "bad.yaml: not a mapping of config keys"),
    ("- SOLVER\n", [], "bad.yaml: not a mapping of config keys"),
    ("{}", ["SOLVER.STEPS", "5"], "command-line override: SOLVER.STEPS must be tuple like its default"),
    ("{}", ["SOLVER.BASE_LR", "fast"], "command-line override: SOLVER.BASE_LR must be float"),
    ("{}", ["SOLVER.MAX_ITER", "-3"], "SOLVER.MAX_ITER must be positive, got -3"),
    ("{}", ["SOLVER.STEPS", "(50, 10)"], "SOLVER.STEPS must be increasing positive iterations"),
    ("{}", ["SOLVER.CHECKPOINT_PERIOD", "0"], "SOLVER.CHECKPOINT_PERIOD must be positive"),
    ("{}", ["DATALOADER.ON_BAD_IMAGE", "ignore"], "DATALOADER.ON_BAD_IMAGE must be skip or fail"),
    ("{}", ["MODEL.DEVICE", "gpu"], "MODEL.DEVICE must be auto, cpu, cuda or cuda:N"),
    ("{}", ["INPUT.MIN_SIZE_TRAIN", "()"], r"INPUT.MIN_SIZE_TRAIN must be one or more positive sizes, got \(\)"),
    ("{}", ["MODEL.RPN.BATCH_SIZE_PER_IMAGE", "0"], "MODEL.RPN.BATCH_SIZE_PER_IMAGE must be positive, got 0"),
    ("{}", ["SOLVER.MOMENTUM", "-0.9"], r"SOLVER.MOMENTUM must be in \[0, 1\), got -0.9"),
    ("{}", ["MODEL.ROI_HEADS.POSITIVE_FRACTION", "1.5"], "POSITIVE_FRACTION must be between 0 and 1, got 1.5"),
    ("{}", ["SOLVER", "1"], "command-line override: SOLVER is a group of keys, not a value; set one of its keys"),
    ("_BASE_: https://example.com/evil.yaml\n", [], "_BASE_ https://example.com/evil.yaml is a URL; a base config "
                                                   "must be a local file"),
    ("_BASE_: [3]\n", [], "_BASE_ must be a file name or a list of them, got 3"),
])
def test_wrong_types_and_values_name_key_and_source(tmp_path, yaml_text, overrides, message):
    (tmp_path / "bad.yaml").write_text(yaml_text)
    with pytest.raises(ConfigValueError, match=message):
        load_config(tmp_path / "bad.yaml", overrides)


def test_config_strings_are_never_run(tmp_path):
    marker = tmp_path / "pwned"
    (tmp_path / "evil.yaml").write_text(f"MODEL: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(ConfigValueError, match="evil.yaml: refused: a YAML tag that builds Python objects"):
        load_config(tmp_path / "evil.yaml")
    cfg = load_config(None, ["OUTPUT_DIR", f"__import__('os').system('touch {marker}')"])
    assert cfg.OUTPUT_DIR.startswith("__import__")  # kept as text, not evaluated
    assert not marker.exists()


@pytest.mark.parametrize("name", ["coco_r101", "coco_r101.yaml", "configs/coco_r101.yaml"])
def test_a_config_is_found_by_name_from_any_folder(name, tmp_path, monkeypatch):
    from resnet_det.config import CONFIGS_DIR
    if name.startswith("configs/"):
        name = str(CONFIGS_DIR.parent / name)
    monkeypatch.chdir(tmp_path)
    cfg = load_config(name)
    assert cfg.MODEL.RESNETS.DEPTH == 101 and cfg.DATASETS.TRAIN == ("coco_2017_train",)  # its _BASE_ read too


def test_plugin_configs_are_found_and_a_missing_name_lists_the_configs(tmp_path, monkeypatch):
    from resnet_det.config import CONFIGS_DIR, resolve_config
    monkeypatch.chdir(tmp_path)
    assert resolve_config("mask_rcnn_R_50_C4_3x") == CONFIGS_DIR / "detectron2" / "mask_rcnn_R_50_C4_3x.yaml"
    with pytest.raises(FileNotFoundError, match=r"config file not found: coco_r1010 .*configs: .*coco_r101,"):
        load_config("coco_r1010")


def test_the_range_table_offers_what_the_code_accepts():
    """The config-level choices the range checks list are the ones the modules that read them implement."""
    from resnet_det.config.checks import VALUE_CHECKS
    from resnet_det.data.datasets.coco import MASK_FORMATS
    from resnet_det.data.decode.policy import BAD_IMAGE_POLICIES
    from resnet_det.data.loaders.cls_transforms import CROP_MODES
    from resnet_det.data.loaders.sample_augment import AUTO_AUGMENTS
    from resnet_det.data.loaders.sampling import SIZE_SAMPLINGS
    from resnet_det.engine.lr_scheduler import LR_SCHEDULERS
    from resnet_det.modeling.detection.inputs import RESIZE_MODES
    from resnet_det.modeling.preprocess import NORMALIZATIONS
    for key, choices in [("INPUT.RESIZE", RESIZE_MODES), ("INPUT.NORMALIZE", NORMALIZATIONS),
                         ("INPUT.MIN_SIZE_TRAIN_SAMPLING", SIZE_SAMPLINGS),
                         ("DATALOADER.ON_BAD_IMAGE", BAD_IMAGE_POLICIES), ("INPUT.CROP_MODE", CROP_MODES),
                         ("INPUT.AUTO_AUGMENT", AUTO_AUGMENTS), ("INPUT.MASK_FORMAT", MASK_FORMATS),
                         ("SOLVER.LR_SCHEDULER_NAME", LR_SCHEDULERS)]:
        ok, _ = VALUE_CHECKS[key]
        assert all(ok(c) for c in choices) and not ok("anything else"), key
