#!/usr/bin/env bash
# Every throughput figure BENCHMARKS.md reports, in one run on a GPU machine (its length not yet
# measured): JSON and printed tables go to OUT_DIR.
#
#   tools/run_gpu_benchmarks.sh OUT_DIR
#
# Optional, each adding its rows when set:
#   D2=/path/to/detectron2/checkout    detectron2's stock R101-C4 beside ours (its configs/ are used)
#   IMAGES=/path/to/imagenet/train     our classification training fed by JPEG files (train_files)
#   COCO="instances.json image_dir"    our detection training fed by a COCO-format set (train_files)
#   PYTHON=python                      the interpreter (default python3)
set -euo pipefail
python=${PYTHON:-python3}  # the interpreter with torch
out=${1:?usage: tools/run_gpu_benchmarks.sh OUT_DIR}
mkdir -p "$out"
peer=()
if [[ -n "${D2:-}" ]]; then
    export PYTHONPATH="$D2${PYTHONPATH:+:$PYTHONPATH}"
    peer=(--detectron2-configs "$D2/configs")
fi
files=()
[[ -n "${IMAGES:-}" ]] && files=(--data "$IMAGES")
coco=()
[[ -n "${COCO:-}" ]] && read -r -a coco <<< "--coco $COCO"

run() {  # name, then benchmark.py arguments
    local name=$1; shift
    echo "== $name: tools/benchmark.py $*" | tee "$out/$name.txt"
    "$python" tools/benchmark.py "$@" --json "$out/$name.json" 2>&1 | tee -a "$out/$name.txt"
}

run cls_fp32 cls --precision fp32
run cls_bf16_cl cls --precision bf16 --channels-last "${files[@]}"
run cls_bf16_cl_compile cls --precision bf16 --channels-last --compile
for model in faster mask; do
    mask=(); [[ $model == mask ]] && mask=(--mask)
    for precision in fp32 bf16; do
        run "det_${model}_${precision}" det --precision "$precision" "${mask[@]}" "${peer[@]}" "${coco[@]}"
    done
    run "det_${model}_bf16_compile" det --precision bf16 --compile "${mask[@]}" "${peer[@]}"
done
"$python" -c "import torch, torchvision; print(torch.cuda.get_device_name(), torch.__version__, torchvision.__version__, torch.version.cuda)" \
    | tee "$out/versions.txt"
