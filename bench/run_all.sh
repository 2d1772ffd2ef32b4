#!/bin/bash
cd "$(dirname "$0")/.."
for b in "bench_analysis.py --repeat 3" "bench_ops.py --rounds 7" "bench_snapshot.py --runs 5" "bench_runtime.py --repeat 5" "bench_check.py --repeat 3"; do
  echo "=================== $b  (load: $(cut -d' ' -f1-3 /proc/loadavg)) $(date -u +%H:%M:%S)"
  timeout 1200 .venv/bin/python bench/$b 2>&1
done
echo "ALL DONE $(date -u +%H:%M:%S)"
