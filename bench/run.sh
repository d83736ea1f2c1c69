#!/usr/bin/env bash
# Runs every benchmark; each writes its figures to bench/results/<name>.json.
# Usage: npm run bench [-- name ...]   (no names: all of them)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p bench/results
names=("$@")  # every bench/*.ts but gen-* (reports.ts included)
if ((${#names[@]} == 0)); then
  for f in bench/*.ts; do
    n=$(basename "$f" .ts)
    case "$n" in gen-*|_*) continue ;; esac
    names+=("$n")
  done
fi
for n in "${names[@]}"; do
  echo "bench: $n"
  npx tsx "bench/$n.ts"
done
echo "bench: figures in bench/results/"
