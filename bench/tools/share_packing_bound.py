#!/usr/bin/python3
"""How much GPU allocation could any packing of the same pods gain? (bench/RESULTS.md, issue 3)

Reads an `accelsched-sim trace --detail-csv` file. For each run (trace, policy, seed) it takes the
shares (1 GPU, gpu_milli < 1000) that the policy placed and computes a lower bound on the number
of GPUs that can hold them: the Gilmore-Gomory cutting-stock LP (bin size 1000 milli, one column
per maximal packing pattern), rounded up. Any packing, online or offline, with full knowledge of
the future, needs at least that many GPUs. The bound ignores CPU and memory, which only makes it
weaker (more optimistic).

    max gain (points) = 100 * (share GPUs used by the policy - LP bound
                               + whole GPUs left idle at the end) / GPU capacity

is then an upper bound on what a better packing of the same placed pods could add to the final
GPU allocation: every GPU saved or left idle is assumed to take a whole-GPU pod (the trace has
thousands waiting: after saturation they fail).

Needs Debian's python3-scipy (`apt-get install python3-scipy`); not part of the build or tests.

    accelsched-sim trace --nodes N.csv --pods P.csv --policy fgd --seeds 42-51 --detail-csv d.csv
    bench/tools/share_packing_bound.py d.csv
"""
import collections
import sys

import numpy as np
from scipy.optimize import linprog


def maximal_patterns(demand):
    """Every multiset of sizes (within demand) that fills a 1000-milli GPU so that no further
    item fits."""
    sizes = sorted(demand, reverse=True)
    out = []

    def rec(i, left, cur):
        if i == len(sizes):
            if all(left < s or cur[k] >= demand[s] for k, s in enumerate(sizes)):
                out.append(list(cur))
            return
        for c in range(min(left // sizes[i], demand[sizes[i]]), -1, -1):
            cur[i] = c
            rec(i + 1, left - c * sizes[i], cur)
        cur[i] = 0

    rec(0, 1000, [0] * len(sizes))
    return sizes, out


def lp_bound(shares):
    if not shares:
        return 0
    demand = collections.Counter(shares)
    sizes, patterns = maximal_patterns(demand)
    a = np.array(patterns, dtype=float).T
    res = linprog(np.ones(len(patterns)), A_ub=-a,
                  b_ub=-np.array([demand[s] for s in sizes], dtype=float),
                  bounds=(0, None), method="highs")
    if res.status != 0:
        sys.exit(f"LP failed: {res.message}")
    return int(np.ceil(res.fun - 1e-6))


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    runs = collections.defaultdict(list)
    with open(sys.argv[1]) as f:
        for line_no, line in enumerate(f, 1):
            row = line.rstrip("\n").split(",")
            if len(row) < 10 or row[3] not in ("arrive", "failed", "node"):
                sys.exit(f"{sys.argv[1]}:{line_no}: not an --detail-csv row")
            runs[(row[0], row[1], row[2])].append(row)
    print("trace,policy,seed,share_gpus,lp_bound,idle_whole_gpus,capacity_gpus,max_gain_pts")
    gains = collections.defaultdict(list)
    for (trace, policy, seed), rows in sorted(runs.items()):
        failed = collections.Counter(r[4] for r in rows if r[3] == "failed")
        placed = [r for r in rows if r[3] == "arrive" and not failed[r[4]]]
        nodes = [r for r in rows if r[3] == "node"]
        free = [int(x) for r in nodes if r[9] for x in r[9].split(";")]
        capacity = len(free)
        whole = sum(int(r[8]) for r in placed if r[9] == "1000")
        idle_whole = sum(1 for x in free if x == 1000)
        share_gpus = capacity - whole - idle_whole
        bound = lp_bound([int(r[9]) for r in placed if r[8] == "1" and int(r[9]) < 1000])
        gain = 100.0 * (share_gpus - bound + idle_whole) / capacity
        gains[(trace, policy)].append(gain)
        print(f"{trace},{policy},{seed},{share_gpus},{bound},{idle_whole},{capacity},{gain:.2f}")
    for (trace, policy), g in sorted(gains.items()):
        print(f"# {trace} {policy}: mean max gain {sum(g) / len(g):.2f} points over {len(g)} seeds",
              file=sys.stderr)


if __name__ == "__main__":
    main()
