#!/usr/bin/env python3
"""expect_exit.py CODE CMD...: run CMD, fail unless it exits with CODE.

`not` accepts any nonzero status; the importer promises exactly 1 for bad
input (a crash or an abort must fail the test). CMD's stderr is copied to
stdout so that FileCheck can read the diagnostics.
"""
import subprocess
import sys

want = int(sys.argv[1])
p = subprocess.run(sys.argv[2:], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
sys.stdout.buffer.write(p.stdout)
if p.returncode != want:
    sys.stdout.write("expect_exit: '%s' exited with %d, expected %d\n"
                     % (sys.argv[2], p.returncode, want))
    sys.exit(1)
