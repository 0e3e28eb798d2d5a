# Compares the outputs a GPU bundle's cases wrote (data/o<slot>.bin) with the interpreter's
# (expected/) and the CPU emulator's (emulated/): the largest |gpu - want| over the largest |want|
# per case (NaN and inf must match), checked against the case's tolerance. Run by run-bundle.sh.
import json
import os
import sys

import numpy as np

DTYPES = {'f32': '<f4', 'f16': '<f2', 'f64': '<f8', 'i64': '<i8', 'i32': '<i4', 'i16': '<i2', 'i8': 'i1',
          'u64': '<u8', 'u32': '<u4', 'u16': '<u2', 'u8': 'u1', 'bool': 'u1', 'bf16': '<u2'}


def read(path, dtype):
    a = np.fromfile(path, dtype=DTYPES[dtype])
    if dtype == 'bf16':
        a = (a.astype(np.uint32) << 16).view(np.float32)
    return a.astype(np.float64)


def rel(got, want, exact):
    if got.shape != want.shape:
        return float('inf')
    special = ~np.isfinite(want)
    if np.any(special):
        g, w = got[special], want[special]
        if not np.all((g == w) | (np.isnan(g) & np.isnan(w))):
            return float('inf')
    ok = ~special
    if not np.all(np.isfinite(got[ok])):
        return float('inf')
    diff = np.max(np.abs(got[ok] - want[ok]), initial=0.0)
    if exact:
        return 0.0 if diff == 0 else float('inf')
    return float(diff / (np.max(np.abs(want[ok]), initial=0.0) or 1.0))


def main(root):
    bad = 0
    rows = []
    for case in sorted(os.listdir(root)):
        d = os.path.join(root, case)
        if not os.path.isfile(os.path.join(d, 'manifest.json')):
            continue
        m = json.load(open(os.path.join(d, 'manifest.json')))
        worst_ref, worst_emu = 0.0, 0.0
        for o in m['outputs']:
            exact = o['dtype'] not in ('f32', 'f16', 'bf16', 'f64')
            got_path = os.path.join(d, 'data', 'o%d.bin' % o['slot'])
            if not os.path.exists(got_path):
                worst_ref = worst_emu = float('inf')
                continue
            got = read(got_path, o['dtype'])
            worst_ref = max(worst_ref, rel(got, read(os.path.join(d, 'expected', 'o%d.bin' % o['slot']), o['dtype']), exact))
            worst_emu = max(worst_emu, rel(got, read(os.path.join(d, 'emulated', 'o%d.bin' % o['slot']), o['dtype']), exact))
        ok = worst_ref <= m['tol']
        bad += 0 if ok else 1
        rows.append('%-4s %-60s vs reference %.2e (tol %.0e)  vs emulator %.2e' % ('ok' if ok else 'FAIL', m['name'][:60], worst_ref, m['tol'], worst_emu))
    print('\n'.join(rows))
    print('%d cases, %d over tolerance' % (len(rows), bad))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1]))
