#!/bin/bash
P=/work/main/.venv/bin/plasticore
export OPENBLAS_NUM_THREADS=1
common="--dataset mnist14 --rule sfdfa --epochs 1 --limit 12 --test-limit 6 --seed 0 --quiet"
$P train $common --target golden --checkpoint /tmp/slice/golden.npz --json /tmp/slice/golden.json > golden.log 2>&1
$P train $common --target sim --checkpoint /tmp/slice/sim.npz --json /tmp/slice/sim.json > sim.log 2>&1
/work/main/.venv/bin/python - <<'PY' > compare.txt 2>&1
import numpy as np, json
g, s = np.load('/tmp/slice/golden.npz', allow_pickle=True), np.load('/tmp/slice/sim.npz', allow_pickle=True)
print(sorted(g.files))
same = True
for k in g.files:
    a, b = g[k], s[k]
    eq = a.shape == b.shape and np.array_equal(a, b) if a.dtype != object else str(a) == str(b)
    print(k, a.shape, a.dtype, "equal" if eq else "DIFFERENT")
    same &= bool(eq)
hg, hs = json.load(open('/tmp/slice/golden.json'))['history'], json.load(open('/tmp/slice/sim.json'))['history']
print("history equal", hg == hs)
print("ALL EQUAL" if same and hg == hs else "MISMATCH")
PY
