"""Checks that rotations=learn's float forward is the model: the held-out CE
the learner prints for the float network ("held-out CE: float X") equals the
next-token CE of the compiled float model's logits on the same windows.
Usage: spinquant_float_ce_check.py LEARN_LOG HELD.npy LOGITS_ROW0.npy ..."""
import re
import sys

import numpy as np

log, held, logits = sys.argv[1], sys.argv[2], sys.argv[3:]
text = open(log).read()
m = re.search(r"held-out CE: float ([0-9.]+)", text)
if not m:
    sys.exit("no 'held-out CE: float' line in " + log)
printed = float(m.group(1))
ids = np.load(held)
z = np.stack([np.load(f).astype(np.float64).reshape(ids.shape[1], -1) for f in logits])
assert z.shape[0] == ids.shape[0], (z.shape, ids.shape)
mx = z.max(-1, keepdims=True)
lse = (np.log(np.exp(z - mx).sum(-1, keepdims=True)) + mx)[..., 0]
rows = np.arange(ids.shape[0])[:, None]
cols = np.arange(ids.shape[1] - 1)[None, :]
ce = float(-(z[rows, cols, ids[:, 1:]] - lse[:, :-1]).mean())
print(f"learner float CE {printed:.4f}, model {ce:.4f}")
if abs(printed - ce) > 2e-3:
    sys.exit(f"the learner's float forward differs from the model: {printed} vs {ce}")
print("float CE matches")
