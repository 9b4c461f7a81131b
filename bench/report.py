#!/usr/bin/python3
"""Turns `make bench`'s CSVs into bench/results/cpu.md (a table) and
bench/results/cpu.svg (% of roofline against T, one line per shape).

    report.py --moec cpu.csv [--torch cpu-torch.csv] [--ggml cpu-ggml.csv]
              --md cpu.md --svg cpu.svg [--note TEXT ...]
No dependency beyond the standard library (the plot is written as SVG)."""
import argparse
import csv
import math
import platform


def read_csv(path):
    rows, comments = [], []
    with open(path) as f:
        lines = [l for l in f if l.strip()]
    comments = [l[1:].strip() for l in lines if l.startswith("#")]
    rows = list(csv.DictReader(l for l in lines if not l.startswith("#")))
    return rows, comments


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def svg_plot(series, path, title):
    W, Hh, L, R, T, B = 720, 420, 60, 150, 40, 50
    xs = sorted({t for pts in series.values() for t, _ in pts})
    if not xs:
        return
    lx = [math.log2(x) for x in xs]
    x0, x1 = min(lx), max(lx) if max(lx) > min(lx) else min(lx) + 1
    ymax = max(100.0, max((y for pts in series.values() for _, y in pts), default=100))

    def px(t):
        return L + (math.log2(t) - x0) / (x1 - x0) * (W - L - R)

    def py(v):
        return T + (1 - v / ymax) * (Hh - T - B)

    colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{Hh}" font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{Hh}" fill="white"/>',
           f'<text x="{W / 2}" y="20" text-anchor="middle" font-size="14">{title}</text>']
    for v in range(0, int(ymax) + 1, 20):
        out.append(f'<line x1="{L}" y1="{py(v):.1f}" x2="{W - R}" y2="{py(v):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{L - 6}" y="{py(v) + 4:.1f}" text-anchor="end">{v}%</text>')
    for t in xs:
        out.append(f'<line x1="{px(t):.1f}" y1="{T}" x2="{px(t):.1f}" y2="{Hh - B}" stroke="#eee"/>')
        out.append(f'<text x="{px(t):.1f}" y="{Hh - B + 16}" text-anchor="middle">{t}</text>')
    out.append(f'<text x="{(L + W - R) / 2}" y="{Hh - 12}" text-anchor="middle">tokens T (log scale)</text>')
    out.append(f'<text x="16" y="{(T + Hh - B) / 2}" transform="rotate(-90 16 {(T + Hh - B) / 2})" '
               f'text-anchor="middle">% of roofline</text>')
    for i, (name, pts) in enumerate(sorted(series.items())):
        c = colors[i % len(colors)]
        pts = sorted(pts)
        d = " ".join(f"{'M' if j == 0 else 'L'}{px(t):.1f},{py(v):.1f}" for j, (t, v) in enumerate(pts))
        out.append(f'<path d="{d}" fill="none" stroke="{c}" stroke-width="2"/>')
        for t, v in pts:
            out.append(f'<circle cx="{px(t):.1f}" cy="{py(v):.1f}" r="3" fill="{c}"/>')
        out.append(f'<rect x="{W - R + 12}" y="{T + 18 * i}" width="12" height="3" fill="{c}"/>')
        out.append(f'<text x="{W - R + 30}" y="{T + 18 * i + 5}">{name}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--moec", required=True)
    ap.add_argument("--torch")
    ap.add_argument("--ggml")
    ap.add_argument("--md", required=True)
    ap.add_argument("--svg", required=True)
    ap.add_argument("--note", action="append", default=[])
    args = ap.parse_args()
    rows, comments = read_csv(args.moec)
    peer = {}
    if args.torch:
        try:
            trows, tcomments = read_csv(args.torch)
            peer = {(r["shape"], int(r["T"])): float(r["median_ms"]) for r in trows}
            comments += tcomments
        except (OSError, KeyError):
            peer = {}
    # ggml's counterpart of each moec weight type: the fastest of its types
    # and modes (plain or repacked) at each (shape, T).
    GGML_TYPES = {"f32": ("f32",), "bf16": ("bf16",), "int8": ("q8_0",), "int4": ("q4_0", "q4_k")}
    ggml = {}
    if args.ggml:
        try:
            grows, _ = read_csv(args.ggml)
            for r in grows:
                base = r["type"].split("+")[0]
                for wt, types in GGML_TYPES.items():
                    if base in types:
                        key = (r["shape"], wt, int(r["T"]))
                        ms = float(r["median_ms"])
                        if key not in ggml or ms < ggml[key][0]:
                            ggml[key] = (ms, r["type"])
        except (OSError, KeyError):
            ggml = {}
    md = ["# CPU benchmark (`make bench`)", "",
          f"- CPU: {cpu_name()}; threads: {rows[0]['threads'] if rows else '?'}; f32 activations; "
          "f32 weights, except the sections marked bf16 (`--weight-type bf16`: expert weights in bf16, "
          "each expert GEMM's activations rounded to bf16, f32 sums; their × PyTorch is against the "
          "same f32 PyTorch block, and their % FMA peak against the f32 FMA peak, though "
          "AVX512_BF16's vdpbf16ps does twice the multiply-adds per instruction)"]
    md += [f"- {c}" for c in comments]
    md += [f"- {n}" for n in args.note]
    md += ["- % FMA peak = GFLOP/s / measured FMA peak; % stream read = weight bytes touched per second / "
           "measured streaming-read bandwidth; % roofline = max(FLOPs / peak, bytes / bandwidth) / time "
           "(both limits measured by moe-bench in the same run).",
           "- × PyTorch = PyTorch eager median / moec median (the Hugging Face loop over experts, "
           "`bench/torch_peer.py`, same shapes, same threads, timed in the same `make bench`).",
           "- × ggml = ggml median / moec median: llama.cpp's build_moe_ffn graph on ggml's CPU "
           "backend (`bench/ggml_peer.cpp`), same shapes and threads, caches evicted before each run "
           "as moe-bench does, the expert weights in ggml's counterpart of moec's type (int8: Q8_0; "
           "int4: the faster of Q4_0 and Q4_K; f32, bf16 as they are), plain or repacked, whichever "
           "was faster.", ""]
    by_shape = {}
    for r in rows:
        wt = r.get("weight_type") or "f32"
        by_shape.setdefault((r["shape"], wt), []).append(r)
    series = {}
    for (shape, wt), rs in by_shape.items():
        label = shape if wt == "f32" else f"{shape} {wt}"
        r0 = rs[0]
        desc = f"H={r0['H']} F={r0['F']} E={r0['E']} k={r0['k']}" + (
            f" shared F={r0['shared_F']}" if r0["shared_F"] != "0" else "")
        md += [f"## {label} ({desc}), compiled in {float(r0['compile_s']):.2f} s", "",
               "| T | median ms | min–max ms | GFLOP/s | weight GB/s | % FMA peak | % stream read | % roofline | PyTorch ms | × PyTorch | ggml ms (type) | × ggml |",
               "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in rs:
            T = int(r["T"])
            med = float(r["median_ms"])
            p = peer.get((shape, T)) if wt in ("f32", "bf16") else None
            gp = ggml.get((shape, wt, T))
            md.append(f"| {T} | {med:.3f} | {float(r['min_ms']):.3f}–{float(r['max_ms']):.3f} | "
                      f"{float(r['gflops']):.1f} | {float(r['weight_gbps']):.2f} | {float(r['pct_fma_peak']):.1f} | "
                      f"{float(r['pct_stream_read']):.1f} | {float(r['pct_roofline']):.1f} | "
                      + (f"{p:.3f} | {p / med:.2f}× |" if p else "– | – |")
                      + (f" {gp[0]:.3f} ({gp[1]}) | {gp[0] / med:.2f}× |" if gp else " – | – |"))
            series.setdefault(label, []).append((T, float(r["pct_roofline"])))
        md.append("")
    skipped = [c for c in comments if "skipped" in c]
    if skipped:
        md += ["Skipped: " + "; ".join(skipped), ""]
    md.append("![% of roofline against T](cpu.svg)")
    with open(args.md, "w") as f:
        f.write("\n".join(md) + "\n")
    svg_plot(series, args.svg, "moec CPU: % of roofline (measured FMA peak / streaming read)")


if __name__ == "__main__":
    main()
