import pytest

from resnet_det.config import ConfigError, get_cfg, load_config


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
    (tmp_path / "evil.yaml").write_text("MODEL: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(Exception, match="python/object"):
        load_config(tmp_path / "evil.yaml")
