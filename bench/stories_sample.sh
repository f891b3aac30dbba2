# bench/stories_sample.sh: sourced by the stories260K benchmarks (no tokenizer
# ships with that model, so evaluation and calibration text are sequences
# sampled from the float model itself).
#
# stories_sample FLOAT_SO WINDOW FIRST_SEED COUNT OUT.npy
#   COUNT sequences of BOS (1) + WINDOW - 1 tokens sampled at temperature 1
#   with seeds FIRST_SEED.., written as one int64 stream. Needs $BIN.
stories_sample() {
  local so=$1 window=$2 first=$3 count=$4 out=$5 ids=() s
  for ((s = first; s < first + count; ++s)); do
    ids+=("1 $("$BIN/quant-run" "$so" --tokens 1 --generate $((window - 1)) \
             --temperature 1 --seed "$s" | head -1)")
    printf '.' >&2
  done
  echo >&2
  printf '%s\n' "${ids[@]}" | /usr/bin/python3 -c "
import sys, numpy as np
rows = [[int(t) for t in l.split()] for l in sys.stdin if l.strip()]
assert all(len(r) == $window for r in rows), [len(r) for r in rows]
np.save('$out', np.array(rows, dtype=np.int64).reshape(-1))"
}
