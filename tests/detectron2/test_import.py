"""How the plugin imports, checked with or without detectron2 installed."""
import subprocess
import sys


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


def test_core_package_never_imports_detectron2():
    out = _python("import sys, resnet_det, resnet_det.engine.det_trainer, resnet_det.weights\n"
                  "assert not any(m.split('.')[0] == 'detectron2' for m in sys.modules), 'detectron2 imported'")
    assert out.returncode == 0, out.stderr


def test_plugin_without_detectron2_says_how_to_install():
    out = _python("import sys\nsys.modules['detectron2'] = None  # as if not installed\nimport resnet_det.detectron2")
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError") and "install it from source" in last and "detectron2.git" in last
