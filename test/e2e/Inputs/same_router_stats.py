#!/usr/bin/python3
"""Compares the router statistics two moe-run --router-stats outputs print:

  same_router_stats.py A.txt B.txt

Every 'router_stats.<i>: experts=E tokens=T' block of A must be in B with the
same experts, tokens and loads, and cv, load_balancing_loss and z_loss within
1e-5 relative (one side may sum in f32, the other in f64). Lines of B that A
lacks (each rank's load) are ignored. Prints 'same' or what differs; exits 1
when something does."""
import re
import sys


def blocks(path):
    out, name = {}, None
    for line in open(path):
        m = re.match(r"(router_stats\.\d+): experts=(\d+) tokens=(\S+)", line)
        if m:
            name = m.group(1)
            out[name] = {"experts": int(m.group(2)), "tokens": float(m.group(3))}
        elif name and line.strip().startswith("load:"):
            out[name]["load"] = [float(v) for v in line.split()[1:]]
        elif name and line.strip().startswith("cv="):
            for kv in line.split():
                k, v = kv.split("=")
                out[name][k] = float(v)
            name = None
    return out


def main():
    a, b = blocks(sys.argv[1]), blocks(sys.argv[2])
    problems = []
    if not a:
        problems.append("%s has no router statistics" % sys.argv[1])
    for name, sa in a.items():
        sb = b.get(name)
        if sb is None:
            problems.append("%s missing" % name)
            continue
        for k in ("experts", "tokens", "load"):
            if sa.get(k) != sb.get(k):
                problems.append("%s: %s %s vs %s" % (name, k, sa.get(k), sb.get(k)))
        for k in ("cv", "load_balancing_loss", "z_loss"):
            x, y = sa.get(k), sb.get(k)
            if x is None or y is None or abs(x - y) > 1e-5 * max(abs(x), abs(y), 1e-30):
                problems.append("%s: %s %s vs %s" % (name, k, x, y))
    print("\n".join(problems) if problems else "same")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
