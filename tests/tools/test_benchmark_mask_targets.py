import re


def test_mask_target_benchmark_compares_the_two_formats(tmp_path, tiny_coco, tool, capsys):
    polygon = [5.0, 5.0, 40.0, 5.0, 25.0, 35.0]
    json_file = tiny_coco(tmp_path, [{"image_id": i, "bbox": [5, 5, 35, 30], "area": 525, "segmentation": [polygon]}
                                     for i in (1, 2, 3)])
    assert tool("benchmark_mask_targets").main(["--json", str(json_file), "--images", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = {m[1]: int(m[2].replace(",", "")) for m in re.finditer(r"^\| (bitmask|polygon) \| ([\d,]+) /", out, re.M)}
    # A 40 x 60 mask pickles to 2.4 kB and more; three vertices to far less.
    assert rows["bitmask"] > 2400 > rows["polygon"]
    ious = re.search(r"18 boxes: IoU percentiles p1 ([\d.]+)", out)
    assert ious and 0.5 < float(ious[1]) <= 1.0
    assert re.search(r"28 x 28 target, CPU: polygon \d+ us, bitmask \d+ us", out)
