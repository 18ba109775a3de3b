import pytest

from resnet_det.engine.lr_scheduler import lr_factor


def test_warmup_then_steps():
    kw = dict(name="WarmupMultiStepLR", max_iter=100, steps=(50, 80), gamma=0.1, warmup_iters=10,
              warmup_factor=0.1)
    assert lr_factor(0, **kw) == pytest.approx(0.1)
    assert lr_factor(5, **kw) == pytest.approx(0.55)
    assert lr_factor(10, **kw) == 1.0
    assert lr_factor(49, **kw) == 1.0 and lr_factor(50, **kw) == pytest.approx(0.1)
    assert lr_factor(80, **kw) == pytest.approx(0.01)


def test_cosine_reaches_zero():
    kw = dict(name="WarmupCosineLR", max_iter=100)
    assert lr_factor(0, **kw) == 1.0
    assert lr_factor(50, **kw) == pytest.approx(0.5)
    assert lr_factor(100, **kw) == pytest.approx(0.0)


def test_linear_is_ffcv_s_triangle():
    # A ramp from 1e-4 to 1 over the warmup, then a straight line to 0 at max_iter.
    kw = dict(name="WarmupLinearLR", max_iter=110, warmup_iters=10, warmup_factor=1e-4)
    assert lr_factor(0, **kw) == pytest.approx(1e-4)
    assert lr_factor(5, **kw) == pytest.approx(0.5 + 0.5e-4)
    assert lr_factor(10, **kw) == 1.0
    assert lr_factor(60, **kw) == pytest.approx(0.5) and lr_factor(110, **kw) == 0.0 == lr_factor(130, **kw)
    assert lr_factor(50, name="WarmupLinearLR", max_iter=100) == pytest.approx(0.5)


def test_unknown_scheduler():
    with pytest.raises(ValueError, match="unknown LR scheduler"):
        lr_factor(0, name="Poly", max_iter=10)
