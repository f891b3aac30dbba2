#!/usr/bin/python3
"""ONNX node-test conformance for lq: import, compile, run, compare.

Runs Debian's libonnx-testdata node tests (model.onnx + test_data_set_0/
input_N.pb, output_N.pb) through the three tools:

  quant-import  model.onnx --input-shape NAME=DxD...      (classification)
  quant-compile model.onnx --input-shape NAME=DxD... -o model.so
  quant-run     model.so --input NAME=input_N.npy --dump-outputs DIR

and compares every output with the expected tensor. Tolerance depends on the
expected dtype: integers and bools must match exactly; float32 uses
rtol 1e-4 / atol 1e-5; float16/bfloat16 rtol 1e-2 / atol 1e-3; float64
rtol 1e-6 / atol 1e-8. NaNs must sit at the same positions.

Every test lands in exactly one bucket, with a reason:
  passed       all outputs match
  unsupported  quant-import reports an "unsupported op" (the op is outside
               lq's set); nothing else counts as unsupported
  failed       anything else: other import diagnostics, compile or run
               errors, crashes, timeouts, missing or mismatching outputs

Usage:
  run_node_tests.py --bin BUILD/bin [--data DIR] [--tests a,b | --tests-file F]
                    [--jobs 1|2] [--json OUT.json] [--keep DIR]
Run it with /usr/bin/python3 (Debian's onnx and numpy live there).
"""
import argparse
import collections
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
from onnx import numpy_helper

DEFAULT_DATA = "/usr/share/libonnx-testdata/data/node"
TIMEOUTS = {"import": 60, "compile": 300, "run": 60}
TOLERANCES = {  # dtype kind/name -> (rtol, atol)
    "float32": (1e-4, 1e-5),
    "float16": (1e-2, 1e-3),
    "float64": (1e-6, 1e-8),
}


def read_pb(path):
    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return t.name, numpy_helper.to_array(t)


def data_files(d, prefix):
    files = [f for f in os.listdir(d) if re.fullmatch(prefix + r"_(\d+)\.pb", f)]
    return [os.path.join(d, f) for f in
            sorted(files, key=lambda f: int(re.search(r"(\d+)", f).group(1)))]


def op_types(model):
    ops = sorted({(n.domain or "") + ("." if n.domain else "") + n.op_type
                  for n in model.graph.node})
    return ops


def run_tool(cmd, timeout):
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout, text=True, errors="replace")
    except subprocess.TimeoutExpired:
        return None, "timeout after %d s" % timeout
    return p.returncode, (p.stderr or "") + (p.stdout or "")


def first_error(text):
    for line in text.splitlines():
        if "error:" in line:
            return line[line.index("error:"):].strip()[:300]
    lines = [l for l in text.splitlines() if l.strip()]
    return (lines[-1][:300] if lines else "no diagnostic")


def compare(name, want, got):
    """None if `got` matches `want`, else a reason."""
    if got.shape != want.shape:
        return "output '%s': shape %s, expected %s" % (name, list(got.shape),
                                                      list(want.shape))
    if want.dtype.kind in "biu":
        # quant-run writes unsigned as signed of the same width: compare bits.
        if got.dtype.kind in "biu" and got.dtype.itemsize == want.dtype.itemsize \
                and got.dtype != want.dtype:
            got = got.view(want.dtype)
        if got.dtype.kind not in "biu" or got.dtype.itemsize != want.dtype.itemsize:
            return "output '%s': dtype %s, expected %s" % (name, got.dtype, want.dtype)
        bad = np.flatnonzero(got.reshape(-1) != want.reshape(-1))
        if bad.size:
            i = bad[0]
            return "output '%s': %d of %d elements differ (first at %d: %s vs %s)" % (
                name, bad.size, want.size, i, got.reshape(-1)[i], want.reshape(-1)[i])
        return None
    if want.dtype.kind == "f":
        if got.dtype != want.dtype:
            return "output '%s': dtype %s, expected %s" % (name, got.dtype, want.dtype)
        rtol, atol = TOLERANCES.get(str(want.dtype), (1e-2, 1e-3))
        g = got.astype(np.float64).reshape(-1)
        w = want.astype(np.float64).reshape(-1)
        nan = np.isnan(w) | np.isnan(g)
        bad = nan & ~(np.isnan(w) & np.isnan(g))
        ok = np.isclose(g, w, rtol=rtol, atol=atol, equal_nan=True)
        bad |= ~ok
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            err = np.abs(g - w)[~nan].max() if (~nan).any() else float("nan")
            return ("output '%s': %d of %d elements outside rtol %g atol %g "
                    "(max abs err %.3g; first at %d: %r vs %r)" % (
                        name, int(bad.sum()), w.size, rtol, atol, err, i, g[i], w[i]))
        return None
    return "output '%s': expected dtype %s is not comparable" % (name, want.dtype)


def run_test(test_dir, bindir, keep):
    name = os.path.basename(test_dir.rstrip("/"))
    res = {"test": name, "ops": [], "status": "failed", "stage": "setup",
           "reason": ""}
    work = tempfile.mkdtemp(prefix="lq-node-")
    try:
        model_path = os.path.join(test_dir, "model.onnx")
        try:
            model = onnx.load(model_path)
        except Exception as e:  # a test we cannot even read is a failure
            res["reason"] = "cannot load model: %s" % e
            return res
        res["ops"] = op_types(model)
        ds = os.path.join(test_dir, "test_data_set_0")
        inits = {i.name for i in model.graph.initializer}
        graph_inputs = [i.name for i in model.graph.input if i.name not in inits]
        # Sequence/optional test data is not a TensorProto: classify the
        # model by importing it anyway, then fail on the data.
        data_error = None
        try:
            inputs = [read_pb(p) for p in data_files(ds, "input")]
            outputs = [read_pb(p) for p in data_files(ds, "output")]
        except Exception as e:
            data_error = "test data is not a plain tensor (%s)" % e
            inputs, outputs = [], []
        if data_error is None and len(inputs) != len(graph_inputs):
            data_error = "%d input files for %d graph inputs" % (
                len(inputs), len(graph_inputs))
        pins, feeds = [], []
        for i, (gname, (_, arr)) in enumerate(zip(graph_inputs, inputs)):
            if arr.ndim > 0:
                pins += ["--input-shape", "%s=%s" % (
                    gname, "x".join(str(d) for d in arr.shape))]
            path = os.path.join(work, "input_%d.npy" % i)
            np.save(path, arr)
            feeds += ["--input", "%s=%s" % (gname, path)]

        # 1. Import: decides supported vs unsupported.
        res["stage"] = "import"
        rc, text = run_tool([os.path.join(bindir, "quant-import"), model_path,
                             "-o", os.path.join(work, "model.mlir")] + pins,
                            TIMEOUTS["import"])
        if rc != 0:
            unsupported = re.findall(r"unsupported op '([^']+)'", text)
            if rc == 1 and unsupported:
                res["status"] = "unsupported"
                res["reason"] = "unsupported op(s): " + ", ".join(sorted(set(unsupported)))
            else:
                res["reason"] = ("crash (rc %s): " % rc if rc not in (None, 1) else "") + \
                    first_error(text)
            return res
        if data_error:
            res["reason"] = data_error
            return res

        # 2. Compile.
        res["stage"] = "compile"
        so = os.path.join(work, "model.so")
        rc, text = run_tool([os.path.join(bindir, "quant-compile"), "-q", model_path,
                             "-o", so] + pins, TIMEOUTS["compile"])
        if rc != 0:
            res["reason"] = ("crash (rc %s): " % rc if rc not in (None, 1) else "") + \
                first_error(text)
            return res

        # 3. Run.
        res["stage"] = "run"
        outdir = os.path.join(work, "out")
        os.makedirs(outdir)
        rc, text = run_tool([os.path.join(bindir, "quant-run"), so, "--dump-outputs",
                             outdir] + feeds, TIMEOUTS["run"])
        if rc != 0:
            res["reason"] = ("crash (rc %s): " % rc if rc not in (None, 1) else "") + \
                first_error(text)
            return res

        # 4. Compare, by graph output name.
        res["stage"] = "compare"
        out_names = [o.name for o in model.graph.output]
        if len(out_names) != len(outputs):
            res["reason"] = "%d output files for %d graph outputs" % (
                len(outputs), len(out_names))
            return res
        for oname, (_, want) in zip(out_names, outputs):
            path = os.path.join(outdir, oname + ".npy")
            if not os.path.exists(path):
                res["reason"] = "output '%s' was not written" % oname
                return res
            why = compare(oname, want, np.load(path))
            if why:
                res["reason"] = why
                return res
        res["status"], res["stage"], res["reason"] = "passed", "done", ""
        return res
    except Exception as e:  # the runner's own bug: still counted, never skipped
        res["reason"] = "runner exception: %r" % (e,)
        return res
    finally:
        if keep:
            dst = os.path.join(keep, name)
            shutil.rmtree(dst, ignore_errors=True)
            shutil.copytree(work, dst)
        shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True, help="dir with quant-import/-compile/-run")
    ap.add_argument("--data", default=DEFAULT_DATA, help="node test dir")
    ap.add_argument("--tests", help="comma-separated test names (default: all)")
    ap.add_argument("--tests-file", help="file with one test name per line (# comments)")
    ap.add_argument("--jobs", type=int, default=1, help="parallel tests (1 or 2)")
    ap.add_argument("--json", help="write per-test results here")
    ap.add_argument("--keep", help="keep each test's work dir under this dir")
    ap.add_argument("--quiet", action="store_true", help="no per-op table")
    args = ap.parse_args()
    if args.jobs < 1 or args.jobs > 2:
        ap.error("--jobs must be 1 or 2 (the machine is shared)")

    names = None
    if args.tests:
        names = [t for t in args.tests.split(",") if t]
    elif args.tests_file:
        with open(args.tests_file) as f:
            names = [l.split("#")[0].strip() for l in f]
            names = [n for n in names if n]
    if names is None:
        names = sorted(d for d in os.listdir(args.data)
                       if os.path.isdir(os.path.join(args.data, d)))
    results = []
    missing = [n for n in names if not os.path.isfile(os.path.join(args.data, n, "model.onnx"))]
    for n in missing:  # asked for but absent: a failure, never a skip
        results.append({"test": n, "ops": [], "status": "failed", "stage": "setup",
                        "reason": "no model.onnx in %s" % os.path.join(args.data, n)})
    todo = [os.path.join(args.data, n) for n in names if n not in missing]

    t0 = time.time()
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as ex:
        for r in ex.map(lambda d: run_test(d, args.bin, args.keep), todo):
            results.append(r)
    elapsed = time.time() - t0
    results.sort(key=lambda r: r["test"])

    # Per-op table: a test counts once for each op it contains.
    per_op = collections.OrderedDict()
    for r in results:
        for op in (r["ops"] or ["?"]):
            c = per_op.setdefault(op, {"passed": 0, "failed": 0, "unsupported": 0})
            c[r["status"]] += 1
    if not args.quiet:
        print("%-36s %6s %6s %11s" % ("op", "passed", "failed", "unsupported"))
        for op in sorted(per_op):
            c = per_op[op]
            print("%-36s %6d %6d %11d" % (op, c["passed"], c["failed"], c["unsupported"]))
        print()
        for r in results:
            if r["status"] == "failed":
                print("FAILED %s [%s]: %s" % (r["test"], r["stage"], r["reason"]))
        print()
    counts = collections.Counter(r["status"] for r in results)
    assert sum(counts.values()) == len(names)
    summary = "%d passed, %d failed, %d unsupported" % (
        counts["passed"], counts["failed"], counts["unsupported"])
    print("%d tests in %.1f s: %s" % (len(results), elapsed, summary))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"summary": dict(counts), "total": len(results),
                       "seconds": round(elapsed, 1),
                       "tolerances": {"int/bool": "exact",
                                      **{k: {"rtol": v[0], "atol": v[1]}
                                         for k, v in TOLERANCES.items()}},
                       "per_op": per_op, "tests": results}, f, indent=1)
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
