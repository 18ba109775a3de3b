"""Clipping annotation boxes to their image."""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from resnet_det.data.datasets.boxes import clip_xyxy

# Subnormals are off: the test session flushes them to zero (see conftest.py).
_coord = st.floats(-100, 200, allow_subnormal=False)
_size = st.floats(-50, 300, allow_subnormal=False)


@given(x=_coord, y=_coord, w=_size, h=_size,
       width=st.integers(1, 150), height=st.integers(1, 150))
def test_clipped_box_is_the_part_inside_the_image(x, y, w, h, width, height):
    box = clip_xyxy(x, y, x + w, y + h, width, height)
    inside_w = min(x + w, width) - max(x, 0)
    inside_h = min(y + h, height) - max(y, 0)
    if w <= 0 or h <= 0 or inside_w <= 0 or inside_h <= 0:
        assert box is None
        return
    x1, y1, x2, y2 = box
    assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
    assert (x2 - x1, y2 - y1) == pytest.approx((inside_w, inside_h), abs=1e-9)
