#!/usr/bin/env bash
# Our tracker (the shipped src/fusion/kitti/configs/pointrcnn.toml, or CONFIG=FILE) vs the
# AB3DMOT-style baseline on the KITTI tracking training half, all three categories: runs
# `fusion kitti track` + `fusion kitti eval` for both and prints one comparison table + FPS.
# HOTA/DetA/AssA/MOTA/IDSW are on the thresholded output (min_output_score of the config),
# sAMOTA/AMOTA on the unthresholded output (--all-scores), as AB3DMOT reports them.
#
#   scripts/kitti_train_eval.sh [KITTI_DIR] [WORK_DIR]
#   KITTI_DIR defaults to $FUSION_SHARED_DATA/kitti-train, else ../shared/data/kitti-train beside
#   this checkout (the tests' lookup rule); it holds detections/, labels/, calib/ and the seqmap
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
K="${1:-${FUSION_SHARED_DATA:-$here/../shared/data}/kitti-train}"
W="${2:-$(mktemp -d)}"
export PYTHONPATH="$here/src${PYTHONPATH:+:$PYTHONPATH}"
args=(--kitti "$K" --work "$W")
if [[ -n "${CONFIG:-}" ]]; then args+=(--config "$CONFIG"); fi
python -m fusion.kitti.report "${args[@]}"
echo "result files: $W/{ours,ours_all,baseline}/<category>/"
