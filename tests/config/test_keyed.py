"""Every default has one home, the config's defaults: each settings dataclass takes its defaults from
there, and each part built from the default config equals the part built from its own defaults."""
import dataclasses
import importlib
import pkgutil

import pytest

import resnet_det
from resnet_det.config import get_cfg
from resnet_det.config.keyed import FromConfig


def _settings_classes() -> list[type]:
    for module in pkgutil.walk_packages(resnet_det.__path__, "resnet_det."):
        if not module.name.startswith("resnet_det.detectron2"):
            importlib.import_module(module.name)
    found, todo = [], list(FromConfig.__subclasses__())
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo += cls.__subclasses__()
    return found


def test_every_settings_class_defaults_to_the_config_and_reads_every_field_from_it():
    classes = _settings_classes()
    assert {c.__name__ for c in classes} >= {"RPNConfig", "RoISampling", "BoxTestConfig", "TTAConfig",
                                             "MultiScaleConfig"}
    for cls in classes:
        assert cls.from_config(get_cfg()) == cls(), cls.__name__
        assert all("key" in f.metadata for f in dataclasses.fields(cls)), cls.__name__


def _pooler():
    from resnet_det.modeling.detection.poolers import ROIPooler
    return ROIPooler(), ROIPooler.from_config(get_cfg(), 16), lambda p: (
        p.output_size, p.pooler_type, p.sampling_ratio, p.spatial_scale)


def _inputs():
    from resnet_det.modeling.detection.inputs import DetectionInputs
    return DetectionInputs("caffe"), DetectionInputs.from_config(get_cfg()), lambda m: (
        m.normalize.style, m.max_size_train, m.min_size_test, m.max_size_test, m.resize)


def _box_predictor():
    from resnet_det.modeling.detection.box_head import FastRCNNOutputLayers
    return FastRCNNOutputLayers(2048, 80), FastRCNNOutputLayers.from_config(get_cfg(), 2048), lambda m: (
        m.num_classes, m.test, m.box_coder.weights, m.cls_score.weight.shape)


def _mask_head():
    from resnet_det.modeling.detection.mask_head import MaskHead
    return MaskHead(2048, 80), MaskHead.from_config(get_cfg(), 2048), lambda m: (
        m.num_classes, m.deconv.out_channels, m.predictor.weight.shape)


@pytest.mark.parametrize("parts", [_pooler, _inputs, _box_predictor, _mask_head],
                         ids=["ROIPooler", "DetectionInputs", "FastRCNNOutputLayers", "MaskHead"])
def test_a_part_built_from_the_default_config_is_the_part_of_its_own_defaults(parts):
    own, configured, settings = parts()
    assert settings(own) == settings(configured)
