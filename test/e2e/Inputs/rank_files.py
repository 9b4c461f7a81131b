#!/usr/bin/python3
"""Per-rank .npy files for moe-run --mpi (its '%r' paths).

  rank_files.py split X.npy PREFIX T0,T1,...   writes PREFIX.<r>.npy: X's rows, T_r for rank r
  rank_files.py join PREFIX RANKS OUT.npy      writes OUT.npy: PREFIX.0.npy ... concatenated
"""
import sys

import numpy as np


def main():
    if sys.argv[1] == "split":
        x, prefix = np.load(sys.argv[2]), sys.argv[3]
        counts = [int(t) for t in sys.argv[4].split(",")]
        if sum(counts) != x.shape[0]:
            sys.exit("split: %d rows, counts sum to %d" % (x.shape[0], sum(counts)))
        at = 0
        for r, t in enumerate(counts):
            np.save("%s.%d.npy" % (prefix, r), x[at:at + t])
            at += t
    else:
        prefix, ranks, out = sys.argv[2], int(sys.argv[3]), sys.argv[4]
        np.save(out, np.concatenate([np.load("%s.%d.npy" % (prefix, r)) for r in range(ranks)]))


if __name__ == "__main__":
    main()
