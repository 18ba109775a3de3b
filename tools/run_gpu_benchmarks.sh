#!/usr/bin/env bash
# Every throughput figure BENCHMARKS.md reports, in one run on a GPU machine (its length not yet
# measured): JSON and printed tables go to OUT_DIR.
#
#   tools/run_gpu_benchmarks.sh OUT_DIR [SECTION ...]
#
# SECTIONs (all by default; the device tool allows 10 minutes a command, so a lease runs them in
# separate calls): cls, det, cifar, demo. A step that fails is reported at the end and the rest
# still run, so one failure does not cost a whole lease's figures; the exit status is then 1.
#
# Optional, each adding its rows when set:
#   D2=/path/to/detectron2/checkout    detectron2's stock R101-C4 beside ours (its configs/ are used)
#   IMAGES=/path/to/imagenet/train     our classification training fed by JPEG files (train_files), decoded
#                                      by the loader's workers and, in a second run, on the GPU
#   COCO="instances.json image_dir"    our detection training fed by a COCO-format set (train_files)
#   CIFAR=/path/to/datasets            a folder with cifar10_jpeg.tar.gz (or cifar-10-batches-py/): the
#                                      CIFAR-10 ResNet-56 recipe, 2,000 iterations eager / CUDA graph /
#                                      compiled + CUDA graph, then all 64k iterations compiled + graphed
#   PYTHON=python                      the interpreter (default python3)
set -euo pipefail
python=${PYTHON:-python3}  # the interpreter with torch
out=${1:?usage: tools/run_gpu_benchmarks.sh OUT_DIR [cls] [det] [cifar] [demo]}
shift
sections=" ${*:-cls det cifar demo} "
for section in $sections; do
    [[ " cls det cifar demo " == *" $section "* ]] || { echo "unknown section $section" >&2; exit 2; }
done
wanted() { [[ $sections == *" $1 "* ]]; }
failed=()
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

step() {  # name, then a function and its arguments: runs it, noting a failure and going on
    local name=$1; shift
    "$@" || { echo "== $name FAILED (exit $?); its output is above and in $out" >&2; failed+=("$name"); }
}
bench() {  # name, then benchmark.py arguments
    local name=$1; shift
    echo "== $name: tools/benchmark.py $*" | tee "$out/$name.txt"
    "$python" tools/benchmark.py "$@" --json "$out/$name.json" 2>&1 | tee -a "$out/$name.txt"
}
run() { step "$1" bench "$@"; }

if wanted cls; then
    run cls_fp32 cls --precision fp32
    run cls_bf16_cl cls --precision bf16 --channels-last "${files[@]}"
    run cls_bf16_cl_compile cls --precision bf16 --channels-last --compile
    # The same files decoded by nvJPEG in the main process instead of by the workers.
    [[ -n "${IMAGES:-}" ]] && run cls_bf16_cl_device_decode cls --precision bf16 --channels-last "${files[@]}" --decode-on-device
    # torchvision's V2 recipe (176 px crops, 128 images a GPU; with IMAGES, its augmentations in the loader
    # too), ResNet-50 and -101; then the steps of the FFCV-like schedule's two training sizes at its 512
    # images a GPU (configs/imagenet_r50_fast.yaml).
    for depth in 50 101; do
        run "cls_v2_r$depth" cls --depth "$depth" --batch 128 --size 176 --precision bf16 --channels-last --compile \
            "${files[@]}" ${IMAGES:+--v2-augment}
    done
    for size in 160 192; do
        run "cls_fast_r50_$size" cls --depth 50 --batch 512 --size "$size" --precision bf16 --channels-last --compile
    done
fi
if wanted det; then
    for model in faster mask; do
        mask=(); [[ $model == mask ]] && mask=(--mask)
        for precision in fp32 bf16; do
            run "det_${model}_${precision}" det --precision "$precision" "${mask[@]}" "${peer[@]}" "${coco[@]}"
        done
        run "det_${model}_bf16_compile" det --precision bf16 --compile "${mask[@]}" "${peer[@]}"
    done
fi
train_cifar() {  # name, then config overrides; prints the run's wall time from its metrics.json
    local name=$1; shift
    echo "== $name: tools/train_cls.py --config configs/cifar_resnet56.yaml $*" | tee "$out/$name.txt"
    "$python" tools/train_cls.py --config configs/cifar_resnet56.yaml MODEL.DEVICE cuda DATASETS.ROOT "$CIFAR" \
        OUTPUT_DIR "$out/$name" "$@" 2>&1 | tail -n 2 | tee -a "$out/$name.txt"
    "$python" -c "import json, sys; m = json.load(open(sys.argv[1])); print(f\"wall time {m['wall_time_s']:.1f} s for {m['iterations']} iterations\")" \
        "$out/$name/metrics.json" | tee -a "$out/$name.txt"
}
cifar() { step "$1" train_cifar "$@"; }
if wanted cifar && [[ -n "${CIFAR:-}" ]]; then
    short=(SOLVER.MAX_ITER 2000 SOLVER.STEPS "(1000,1500)" TEST.EVAL_PERIOD 0 SOLVER.CHECKPOINT_PERIOD 1000)
    cifar cifar56_2k_eager "${short[@]}"
    cifar cifar56_2k_graph "${short[@]}" SOLVER.CUDA_GRAPH True
    cifar cifar56_2k_compile_graph "${short[@]}" SOLVER.CUDA_GRAPH True MODEL.COMPILE.ENABLED True
    cifar cifar56_64k_compile_graph SOLVER.CUDA_GRAPH True MODEL.COMPILE.ENABLED True
fi
# bf16 against fp32 on the same weights: the quick-start detector trained in fp32, then evaluated
# both ways (box and mask AP on its validation shapes).
demo() {
    "$python" tools/train_net.py --config configs/demo.yaml MODEL.DEVICE cuda SOLVER.AMP.ENABLED False \
        OUTPUT_DIR "$out/demo_fp32" 2>&1 | tail -n 2 | tee "$out/demo_fp32.txt" || return
    local amp
    for amp in False True; do
        echo "== demo weights evaluated with SOLVER.AMP.ENABLED $amp" | tee "$out/demo_eval_amp_$amp.txt"
        "$python" tools/train_net.py --config configs/demo.yaml --eval-only MODEL.DEVICE cuda SOLVER.AMP.ENABLED \
            "$amp" MODEL.WEIGHTS "$out/demo_fp32/model_final.pth" OUTPUT_DIR "$out/demo_eval_amp_$amp" 2>&1 \
            | tail -n 2 | tee -a "$out/demo_eval_amp_$amp.txt" || return
    done
}
wanted demo && step demo_fp32_vs_bf16 demo
"$python" -c "import torch, torchvision; print(torch.cuda.get_device_name(), torch.__version__, torchvision.__version__, torch.version.cuda)" \
    | tee "$out/versions.txt"
if (( ${#failed[@]} )); then
    echo "failed: ${failed[*]}" >&2
    exit 1
fi
