#!/usr/bin/python3
"""Is the GGUF llama.cpp benchmarks the model lq compiles? Compare llama.cpp's logits with
PyTorch's reference logits of pd-llama-6m.

    /usr/bin/python3 bench/llamacpp/check_logits.py LLAMA_LOGITS MODEL_DIR GGUF... [--max-rel-err E]

LLAMA_LOGITS: the llama_logits program (bench/llamacpp/llama_logits.cpp, built by build.sh);
MODEL_DIR: holds ref_input_ids.npy (int64 [1, 8]) and ref_logits.npy (float32 [1, 8, 4096]).
For each GGUF it runs the 8 ids as one batch (prefill) and one by one over the KV cache
(decode), in two configurations: "exact" (f32 KV cache, flash attention off: llama.cpp's f32
arithmetic throughout) and "default" (f16 KV cache, flash attention auto = on: what llama-bench
and llama.cpp's users run; its flash attention casts K/V to f16), and prints
rel_err = max|logits - ref| / max|ref| (the metric of models/pd-llama-6m/README.md) and the
top-1 agreement with the reference. With --max-rel-err, exits 1 when the first GGUF's error in
the exact configuration exceeds it (build.sh passes the F32 GGUF first, with 1e-5).
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

args = sys.argv[1:]
limit = None
if '--max-rel-err' in args:
    k = args.index('--max-rel-err')
    limit = float(args[k + 1])
    del args[k:k + 2]
prog, mdir, ggufs = args[0], args[1], args[2:]
ids = np.load(os.path.join(mdir, 'ref_input_ids.npy')).reshape(-1)
ref = np.load(os.path.join(mdir, 'ref_logits.npy')).reshape(len(ids), -1).astype(np.float64)
status = 0
with tempfile.TemporaryDirectory() as tmp:
    for gi, g in enumerate(ggufs):
        for cfg, kv, fa in (('exact', 'f32', 'off'), ('default', 'f16', 'auto')):
            for mode in ('batch', 'step'):
                out = os.path.join(tmp, 'logits.f32')
                subprocess.run([prog, g, out, mode, kv, fa, '2', *map(str, ids)], check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                got = np.fromfile(out, np.float32).reshape(ref.shape).astype(np.float64)
                rel = np.abs(got - ref).max() / np.abs(ref).max()
                top1 = (got.argmax(-1) == ref.argmax(-1)).mean()
                print(f'{os.path.basename(g)}: {mode:5s} {cfg:7s} (kv {kv}, fa {fa:4s}): rel_err {rel:.2e}  '
                      f'max|diff| {np.abs(got - ref).max():.2e}  top-1 {top1:.3f}')
                if limit is not None and gi == 0 and cfg == 'exact' and not rel <= limit:
                    print(f'check_logits: {g}: rel_err {rel:.2e} > {limit:.0e}', file=sys.stderr)
                    status = 1
sys.exit(status)
