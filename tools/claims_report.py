"""The claims report: every notebook run for many seeds, each claim's measured mean, sd and worst value
against its threshold.

    python tools/claims_report.py                      # every notebook, SEED = 0..19
    python tools/claims_report.py --seeds 0-29 --only 08 10
    MKL_CBWR=COMPATIBLE python tools/claims_report.py --only 08     # another CPU kernel choice

Each run injects `SEED = s` after the notebook's parameters cell (as papermill does) and executes it
top to bottom with MTL_CLAIMS_SOFT=1, so a claim that fails is recorded and the run goes on; every
`check_claim` call appends its value to a log (mtl_lessons/claims.py). A claim's margin is its worst
value's distance from the threshold, on the side the claim points (negative: some seed fails it);
"margin/sd" says how many seed-to-seed standard deviations of the claim that margin is. A notebook
cell that raised is listed under the table. Two kernels run at a time (this is a 2-core machine's
maximum worth running). Not part of the test suite: 12 notebooks x 20 seeds take about half an hour.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import numpy as np
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


def seeds_arg(text: str) -> list[int]:
    out = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi) + 1)) if hi else [int(lo)]
    return out


def run_one(path: Path, seed: int, log: Path) -> str | None:
    """Execute `path` with SEED = seed; return None, or the error of the cell that raised."""
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    code = code[1:] if code and "install" in code[0].metadata.get("tags", []) else code
    nb.cells.insert(nb.cells.index(code[0]) + 1, nbformat.v4.new_code_cell(f"SEED = {seed}  # injected"))
    env = dict(os.environ, MTL_CLAIMS_LOG=str(log), MTL_CLAIMS_SOFT="1", MTL_CLAIMS_SEED=str(seed))
    try:
        client = NotebookClient(nb, timeout=600, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}})
        client.execute(env=env)  # the kernel's own environment: jobs running side by side do not share it
    except Exception as e:  # noqa: BLE001 - the report lists it
        lines = str(e).strip().splitlines()
        return f"{type(e).__name__}: {lines[-1][:200] if lines else ''}"
    return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0-19", help="SEED values, e.g. 0-19 or 0,5,7-9 (default 0-19)")
    parser.add_argument("--only", nargs="*", default=None, help="notebook name prefixes, e.g. 08 10")
    parser.add_argument("--jobs", type=int, default=2, help="kernels at once (default 2)")
    parser.add_argument("--log", default=None, help="keep the JSON-lines log here (default: a temporary file)")
    args = parser.parse_args(argv)
    seeds = seeds_arg(args.seeds)
    paths = sorted(p for p in NOTEBOOKS.glob("*.ipynb")
                   if args.only is None or any(p.name.startswith(o) for o in args.only))
    log = Path(args.log) if args.log else Path(tempfile.mkstemp(prefix="mtl-claims-", suffix=".jsonl")[1])
    log.write_text("")
    env_note = ", ".join(f"{k}={os.environ[k]}" for k in ("MKL_CBWR", "ATEN_CPU_CAPABILITY") if k in os.environ)
    print(f"claims report: {len(paths)} notebooks x {len(seeds)} seeds ({args.seeds})"
          f"{'; ' + env_note if env_note else ''}; log {log}", flush=True)
    # each run writes its own log (notebook and seed in its name); they are gathered into `log` at the end
    errors: dict[str, list[str]] = defaultdict(list)
    start = time.perf_counter()
    jobs = [(p, s) for p in paths for s in seeds]

    def job(item):
        p, s = item
        own = log.with_name(f"{log.stem}.{p.stem}.{s}.jsonl")
        own.write_text("")
        err = run_one(p, s, own)
        print(f"  {p.stem} SEED={s}: {'ok' if err is None else err}", flush=True)
        return p.stem, s, own, err

    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        done = list(pool.map(job, jobs))
    values: dict[tuple, list[tuple[int, float]]] = defaultdict(list)
    meta: dict[tuple, dict] = {}
    with log.open("a", encoding="utf-8") as out:
        for stem, s, own, err in done:
            if err is not None:
                errors[stem].append(f"SEED={s}: {err}")
            for line in own.read_text(encoding="utf-8").splitlines():
                rec = json.loads(line)
                rec["notebook"], rec["seed"] = stem, s
                out.write(json.dumps(rec, ensure_ascii=False) + "\n")
                key = (stem, rec["claims"], rec["claim"], rec["what"])
                values[key].append((s, rec["value"]))
                meta[key] = rec
            own.unlink()
    print(f"\n{len(jobs)} runs in {time.perf_counter() - start:.0f} s\n")
    header = f"{'notebook':24s} {'claim':28s} {'threshold':>11s} {'mean':>9s} {'sd':>8s} {'worst':>9s} " \
             f"{'(seed)':>7s} {'margin':>9s} {'margin/sd':>9s} {'fails':>6s}"
    print(header)
    print("-" * len(header))
    bad = 0
    for key in sorted(values):
        stem, _, claim, what = key
        rec = meta[key]
        seed_of = [s for s, _ in values[key]]
        v = np.array([x for _, x in values[key]])
        at_most = rec["direction"] == "<="
        worst_i = int(v.argmax() if at_most else v.argmin())
        margin = rec["threshold"] - v[worst_i] if at_most else v[worst_i] - rec["threshold"]
        fails = int((v > rec["threshold"]).sum() if at_most else (v < rec["threshold"]).sum())
        sd = v.std(ddof=1) if len(v) > 1 else float("nan")
        bad += fails > 0
        name = claim if what == claim else f"{claim}"
        print(f"{stem[:24]:24s} {name[:28]:28s} {('≤ ' if at_most else '≥ ') + format(rec['threshold'], 'g'):>11s} "
              f"{v.mean():9.4f} {sd:8.4f} {v[worst_i]:9.4f} {seed_of[worst_i]:7d} {margin:+9.4f} "
              f"{(margin / sd if sd > 0 else float('inf')):9.2f} {fails:3d}/{len(v):<2d}")
    for stem, errs in sorted(errors.items()):
        print(f"\n{stem}: {len(errs)} run(s) raised")
        for e in errs:
            print("   ", e)
    print(f"\n{bad} claim(s) failed on some seed; {sum(map(len, errors.values()))} run(s) raised")
    return 1 if bad or errors else 0


if __name__ == "__main__":
    sys.exit(main())
