"""benchmarks/bias.py's report: the text (a table per model, the gaps, who is missed) and the
figures (a panel per attribute, the models side by side with their intervals)."""

from __future__ import annotations

import io
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np

from _bias import smiles as _smiles
from _bias.london import ATTRIBUTES, MEASURES
from _common import save_png, table


def pct(v: float) -> str:
    return f"{v * 100:.1f}"


def interval(s: dict) -> tuple[float, float]:
    """The Wilson score interval of a group's share. The percentile bootstrap shown before
    covered a share near 0 or 1 less than 95% of the time (88.5% at 95 of 102) and gave the
    worse of two groups the higher lower bound (52 of 53 [94.3, 100] beside 49 of 49 [92.7, 100])."""
    return s["wilson"][0], s["wilson"][1]


def cell(s: dict) -> str:
    lo, hi = interval(s)
    return f"{pct(s['value'])}% [{pct(lo)}, {pct(hi)}]"


def model_table(r: dict) -> str:
    rows = [["all", "", r["overall"]["happy_recall"]["n"], "", *(cell(r["overall"][m]) for m in MEASURES)]]
    for attr, groups in r["groups"].items():
        for g, s in groups.items():
            rows.append([ATTRIBUTES[attr], g, s["n"], "yes" if s["target"] else "no",
                         *(cell(s["measures"][m]) for m in MEASURES)])
    return table(["attribute", "group", "n", "n >= min", *MEASURES.values()], rows)


def pval(p: float) -> str:
    return f"{p:.4f}" if p < 0.001 else f"{p:.3f}"


def gap_lines(r: dict) -> list[str]:
    lines = []
    for attr, gaps in r["gaps"].items():
        for m, g in gaps.items():
            if g["gap"] < 1e-12:
                lines.append(f"  {ATTRIBUTES[attr]}, {MEASURES[m]}: no gap (every group the same)")
                continue
            lines.append(f"  {ATTRIBUTES[attr]}, {MEASURES[m]}: largest gap {g['high']} - {g['low']} = "
                         f"{g['gap'] * 100:.1f} points; permutation p = {pval(g['p'])} (Holm {pval(g['p_holm'])}; "
                         f"groups {', '.join(g['groups'])})")
    return lines


def miss_lines(r: dict) -> list[str]:
    def fmt(x, key):
        extra = "" if x["said"] == "no face" else f" {x['p']:.2f}, {key.split('_')[1]} {x[key]:.2f}" \
            if x.get(key) is not None else f" {x['p']:.2f}"
        return f"{x['id']} ({x['gender']}, {x['ethnicity']}, {x['age'] if x['age'] is not None else 'age ?'}): " \
               f"{x['said']}{extra}"

    m = r["misses"]
    out = [f"  smiling photos not called happy ({len(m['smiling_not_happy'])}):"]
    out += [f"    {fmt(x, 'p_happy')}" for x in m["smiling_not_happy"]]
    out.append(f"  neutral photos not called neutral ({len(m['neutral_not_neutral'])}):")
    out += [f"    {fmt(x, 'p_neutral')}" for x in m["neutral_not_neutral"]]
    out.append(f"  photos without a face found ({len(m['no_face'])})"
               + (": " + ", ".join(f"{x['id']} {x['photo']}" for x in m["no_face"]) if m["no_face"] else ""))
    return out


def format_report(report: dict, default: str | None = None) -> str:
    buf = io.StringIO()
    with redirect_stdout(buf):
        print(report["machine"])
        print(f"Face Research Lab London Set: {report['people']} people x 2 photos"
              f"{' (seeded subset, seed %d)' % report['seed'] if report['limit'] else ''}; groups: "
              + "; ".join(f"{ATTRIBUTES[a]} " + ", ".join(f"{g} {n}" for g, n in gs.items())
                          for a, gs in report["groups"].items()))
        print(f"{report['minutes']:.1f} min; 95% Wilson score intervals (of the group's people; faces found: of their "
              f"photos); largest-gap permutation tests among the groups of >= {report['min_group']} people "
              f"({report['permutations']} permutations, numpy, seeded)")
        if report.get("command"):
            print(f"command: {report['command']}")
        print("\nA photo without a face counts as not happy / not neutral / not negative. Negative = "
              + ", ".join(report["negative"]) + " (those in the model's labels). Values are % of the group's people.")
        for name, r in report["models"].items():
            print(f"\n## {name}{' (default)' if name == default else ''}: {len(r['labels'])} labels, "
                  f"{r['seconds']:.0f} s\n")
            print(model_table(r))
            print("\nlargest gaps between groups:")
            print("\n".join(gap_lines(r)) or "  (fewer than two groups big enough)")
            print("\nhappy recall by ethnic group within gender (called happy / people; no intervals, cells "
                  "are tiny): " + ", ".join(f"{k} {v[0]}/{v[1]}" for k, v in r["happy_by_ethnicity_and_gender"].items()))
            print("\nsmiles by breadth (benchmarks/_bias/smiles.py):")
            print("\n".join(_smiles.format_lines(r["smiles"])))
            print("\nmisses (id, group, age: what the model said, its probability, and the probability of the "
                  "right answer):")
            print("\n".join(miss_lines(r)))
        if len(report["models"]) > 1:
            every = set.intersection(*({x["id"] for x in r["misses"]["smiling_not_happy"]}
                                       for r in report["models"].values()))
            print(f"\nsmiling photos no model calls happy: {', '.join(sorted(every)) or 'none'}")
            every = set.intersection(*({x["id"] for x in r["misses"]["neutral_not_neutral"]}
                                       for r in report["models"].values()))
            print(f"neutral photos no model calls neutral: {', '.join(sorted(every)) or 'none'}")
        if report["fer"]:
            print("\n" + report["fer"])
    return buf.getvalue()


def figures(report: dict, folder: Path, default: str | None = None) -> list[Path]:
    """One PNG per measure: a panel per attribute, the groups of >= min_group (and everyone), the
    models side by side with their 95% Wilson intervals."""
    from facemotion.plots import _plt

    plt = _plt()
    folder.mkdir(parents=True, exist_ok=True)
    models = list(report["models"])
    colours = plt.get_cmap("tab10").colors
    written = []
    for m in ("happy_recall", "neutral_as_negative", "neutral_as_neutral"):
        fig, axes = plt.subplots(1, len(ATTRIBUTES), figsize=(12, 3.6), sharey=True,
                                 gridspec_kw={"width_ratios": [3, 5, 4]})
        for ax, attr in zip(axes, ATTRIBUTES):
            first = report["models"][models[0]]
            groups = ["all"] + [g for g, s in first["groups"][attr].items() if s["target"]]
            ns = [first["overall"][m]["n"]] + [first["groups"][attr][g]["n"] for g in groups[1:]]
            width = 0.8 / len(models)
            for i, name in enumerate(models):
                r = report["models"][name]
                st = [r["overall"][m]] + [r["groups"][attr][g]["measures"][m] for g in groups[1:]]
                v = np.array([s["value"] for s in st]) * 100
                iv = [interval(s) for s in st]
                err = np.array([[s["value"] - i[0] for s, i in zip(st, iv)],
                                [i[1] - s["value"] for s, i in zip(st, iv)]]).clip(0) * 100
                x = np.arange(len(groups)) + (i - (len(models) - 1) / 2) * width
                ax.bar(x, v, width, yerr=err, capsize=2, color=colours[i % 10], error_kw={"lw": 0.8},
                       label=f"{name}{' (default)' if name == default else ''}")
            ax.set_xticks(np.arange(len(groups)), [f"{g}\nn={n}" for g, n in zip(groups, ns)], fontsize=8)
            ax.set_title(ATTRIBUTES[attr], fontsize=10)
            ax.grid(axis="y", alpha=0.3)
            ax.set_ylim(0, 105)
        axes[0].set_ylabel("% of the group's people")
        handles, names = axes[0].get_legend_handles_labels()
        fig.legend(handles, names, fontsize=8, loc="lower center", ncol=len(models), frameon=False)
        fig.suptitle(f"{MEASURES[m]}, London set ({report['people']} people), 95% Wilson intervals; groups of "
                     f">= {report['min_group']} people", fontsize=10)
        fig.tight_layout(rect=(0, 0.07, 1, 1))
        path = folder / f"{m}.png"
        written.append(save_png(fig, path))
    return written
