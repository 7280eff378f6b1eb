#!/usr/bin/env python3
"""Draws the fraction of copy bandwidth per shape from mpscl-bench --csv rows (and others').

Each input is LABEL=FILE, a CSV in mpscl-bench's columns (tools/mpscl-bench --csv, or
tools/torch-bench.py); lines starting with '#' and repeated header lines are skipped. One panel
per (op, dtype) found, one bar per shape and input, the bar's height its fraction_of_copy (the
op's byte model over the copy bandwidth measured in the same run), the device time written over
it. Needs matplotlib.

  tools/mpscl-bench --csv --op both > mpscl.csv
  tools/mpscl-bench --csv --op both --dtype f16 >> mpscl.csv
  tools/torch-bench.py --op both > torch.csv
  tools/bench-chart.py mpscl=mpscl.csv PyTorch=torch.csv -o docs/performance.png
"""
import argparse
import csv
import sys


def read_rows(label, path):
    with open(path, newline="") as f:
        lines = [line for line in f if line.strip() and not line.startswith("#")]
    header = lines[0]
    rows = []
    for row in csv.DictReader(lines):
        if ",".join(row.values()) + "\n" == header:
            continue
        row["source"] = label
        rows.append(row)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("inputs", nargs="+", metavar="LABEL=FILE")
    parser.add_argument("-o", "--output", default="bench.png", help="PNG to write")
    parser.add_argument("--title", default="batch normalization, fraction of copy bandwidth")
    args = parser.parse_args()
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("bench-chart.py: matplotlib is not installed (pip install matplotlib)")

    rows, labels = [], []
    for item in args.inputs:
        label, sep, path = item.partition("=")
        if not sep:
            sys.exit("bench-chart.py: %s is not LABEL=FILE" % item)
        labels.append(label)
        rows += read_rows(label, path)
    panels = sorted({(r["op"], r["dtype"]) for r in rows})
    if not panels:
        sys.exit("bench-chart.py: no rows in the inputs")
    fig, axes = plt.subplots(len(panels), 1, figsize=(11, 3.4 * len(panels)), squeeze=False)
    width = 0.8 / len(labels)
    for ax, (op, dtype) in zip(axes[:, 0], panels):
        mine = [r for r in rows if r["op"] == op and r["dtype"] == dtype]
        shapes = list(dict.fromkeys("%sx%s" % (r["rows"], r["columns"]) for r in mine))
        for k, label in enumerate(labels):
            for r in (r for r in mine if r["source"] == label):
                x = shapes.index("%sx%s" % (r["rows"], r["columns"])) + (k - (len(labels) - 1) / 2) * width
                height = 100 * float(r["fraction_of_copy"])
                ax.bar(x, height, width, color="C%d" % k,
                       label=label if r is next(q for q in mine if q["source"] == label) else None)
                ax.text(x, height, "%.0f" % float(r["device_median_us"]), ha="center",
                        va="bottom", fontsize=7)
        ax.axhline(100, color="grey", linewidth=0.8, linestyle="--")
        ax.set_xticks(range(len(shapes)))
        ax.set_xticklabels(shapes, fontsize=8)
        ax.set_ylabel("% of copy")
        ax.set_title("%s, %s (bar labels: device time, us)" % (op, dtype), fontsize=10)
        ax.legend(fontsize=8)
    fig.suptitle(args.title)
    fig.tight_layout()
    fig.savefig(args.output, dpi=110)
    print("bench-chart.py: wrote %s (%d panels, %d rows)" % (args.output, len(panels), len(rows)))


if __name__ == "__main__":
    main()
