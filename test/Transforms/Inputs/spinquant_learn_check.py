# SPDX-License-Identifier: Apache-2.0
"""Checks for spinquant-learn.test.

  compare CPP PY: --spinquant rotations=learn's R1.npy/R2.npy/loss.csv (CPP)
    equal tools/spinquant/learn.py --match-pass's (PY) within 1e-6, and are
    orthogonal within 1e-6.
  decreases DIR: on a fixed batch the train loss falls: the last step's is
    below the first's by more than 0.02, and no step rises by more than 0.02.
"""
import csv, sys

import numpy as np


def rows(d):
    with open(d + "/loss.csv") as f:
        return list(csv.DictReader(f))


def compare(cpp, py):
    worst = 0.0
    for name in ("R1", "R2"):
        a, b = np.load(f"{cpp}/{name}.npy"), np.load(f"{py}/{name}.npy")
        assert a.shape == b.shape, (name, a.shape, b.shape)
        worst = max(worst, np.abs(a - b).max())
        for r in a.reshape(-1, a.shape[-1], a.shape[-1]):
            orth = np.abs(r.T @ r - np.eye(r.shape[0])).max()
            assert orth < 1e-6, f"{name} not orthogonal: {orth}"
    assert worst <= 1e-6, f"rotations differ by {worst}"
    rc, rp = rows(cpp), rows(py)
    assert len(rc) == len(rp) >= 2, (len(rc), len(rp))
    loss = 0.0
    for c, p in zip(rc, rp):
        for k in c:
            if k in ("step", "seconds"):
                continue
            if c[k] or p[k]:
                loss = max(loss, abs(float(c[k]) - float(p[k])))
    assert loss <= 1e-6, f"losses differ by {loss}"
    print(f"cross-check ok: max |dR| {worst:.1e}, max |dloss| {loss:.1e}, {len(rc) - 1} steps")


def decreases(d):
    t = [float(r["train_ce"]) for r in rows(d)[1:]]
    assert t[-1] < t[0] - 0.02, f"train CE {t[0]} -> {t[-1]}: did not fall"
    assert all(b < a + 0.02 for a, b in zip(t, t[1:])), f"train CE rose: {t}"
    print(f"decreases ok: train CE {t[0]:.4f} -> {t[-1]:.4f} over {len(t)} steps")


if __name__ == "__main__":
    {"compare": compare, "decreases": decreases}[sys.argv[1]](*sys.argv[2:])
