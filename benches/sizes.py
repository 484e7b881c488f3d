"""Deep and retained size: `refscope.size` against `pympler.asizeof` and a pure-Python walk.

Run:
    python benches/sizes.py [--runs N] [--quick] [--json FILE]

pympler must be installed in the interpreter (it is in tests/requirements.txt), and refscope must be
importable (the extension built for that interpreter). Everything runs in this one process.

Four structures (sizes divided by 100 with --quick, for smoke tests only: the targets mean nothing
then):

    ints      list(range(10**6))                                   a list of 1,000,000 ints
    dict      {"key%d" % i: [float(i), i + 0.5, i + 0.25]}          200,000 str -> list of 3 floats
    objects   [Item(i, float(i), "item%d" % i)]                     100,000 instances, 3 attributes
    linked    Node(value=i, next=previous)                          a 200,000-node linked list

Four tools, each timed on one call:

    refscope       refscope.size(obj)                  deep AND retained (and the largest parts)
    refscope-deep  refscope.size(obj, retained=False)  deep only: no graph is built
    pympler   pympler.asizeof.asizeof(obj)  deep only (pympler has no retained size)
    python    pure-Python iterative walk: explicit stack, a set of seen ids, gc.get_referents plus
              the keys of dicts (3.11+ does not report str keys), sys.getsizeof; it skips the same
              shared objects as refscope (classes, modules, functions, builtins, code objects,
              descriptors, method-wrappers, None/True/False/Ellipsis/NotImplemented, the small ints
              -5..256), so its byte count should equal refscope's deep size exactly

Fresh structures: on 3.11+ pympler reads `obj.__dict__`, which materializes the managed dict of
every instance it visits, so the structure grows (and refscope would then count those dicts). Every
single measurement, of every tool in every run, therefore gets its own newly built structure; no
timed call ever sees an object another tool has touched. After the timed runs, refscope measures
(untimed) one structure that pympler has just walked, to show the difference ("after pympler").

For each structure and each of N runs (--runs, default 5), the three tools run one after another,
the order rotated from run to run; each call is timed with perf_counter, with the garbage collector
collected beforehand and disabled during the call (as timeit does), and the structure is held only
by one local variable. The script prints, per structure:
  - each tool's median time, with min and max over the runs;
  - the byte counts each tool reports (refscope: deep and retained; pympler: asizeof; python: deep),
    and each count over refscope's deep size: pympler's asizeof stops at a recursion depth of 100
    (`limit=100`) without a warning, so on the linked list it reports a small fraction of it;
  - the ratios of the medians pympler / refscope-deep for deep (target >= 30x), pympler / refscope
    for the default call with retained size (target >= 30x: the call users make first; pympler has
    no retained size, so its deep size is the bar), and python / refscope-deep. Where pympler truncated
    (linked), its time covers only the part it walked, so that ratio flatters pympler, and no target
    is judged there.
A summary table of the ratios and targets follows. --json FILE saves every time and count.
"""

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
import types

import refscope

try:
    import pympler
    from pympler import asizeof as pympler_asizeof
except ImportError:  # pragma: no cover - told to the user below
    sys.exit("pympler is not installed in this interpreter: pip install pympler (tests/requirements.txt)")

SIZES = {"ints": 10**6, "dict": 200_000, "objects": 100_000, "linked": 200_000}
TOOLS = ["refscope", "refscope-deep", "pympler", "python"]
TARGET_DEEP = 30.0
TARGET_RETAINED = 30.0


# --- structures -------------------------------------------------------------------------------


class Item:
    def __init__(self, a, b, c):
        self.a = a
        self.b = b
        self.c = c


class Node:
    def __init__(self, value, next):
        self.value = value
        self.next = next


def build_ints(n):
    return list(range(n))


def build_dict(n):
    return {"key%d" % i: [float(i), i + 0.5, i + 0.25] for i in range(n)}


def build_objects(n):
    return [Item(i, float(i), "item%d" % i) for i in range(n)]


def build_linked(n):
    head = None
    for i in range(n):
        head = Node(i, head)
    return head


BUILDERS = {"ints": build_ints, "dict": build_dict, "objects": build_objects, "linked": build_linked}
DESCRIPTIONS = {
    "ints": "list of {n:,} ints (list(range(n)))",
    "dict": "dict of {n:,} str -> list of 3 floats",
    "objects": "{n:,} instances of a class with 3 attributes, in a list",
    "linked": "{n:,}-node linked list (Node.value, Node.next)",
}


# --- the pure-Python walk ---------------------------------------------------------------------

SHARED_TYPES = (
    type,
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.CodeType,
    types.GetSetDescriptorType,
    types.MemberDescriptorType,
    types.WrapperDescriptorType,
    types.MethodDescriptorType,
    types.ClassMethodDescriptorType,
    types.MethodWrapperType,
)
SHARED_IDS = frozenset(id(o) for o in (None, True, False, Ellipsis, NotImplemented))


def python_deep(obj):
    """Deep size the way refscope counts it, in pure Python: (bytes, objects)."""
    getsizeof = sys.getsizeof
    referents = gc.get_referents
    shared_types = SHARED_TYPES
    shared_ids = SHARED_IDS
    seen = set()
    stack = [obj]
    total = 0
    count = 0
    while stack:
        o = stack.pop()
        i = id(o)
        if i in seen or i in shared_ids:
            continue
        t = type(o)
        if t is int:
            if -5 <= o <= 256:
                continue
        elif isinstance(o, shared_types):
            continue
        seen.add(i)
        total += getsizeof(o)
        count += 1
        stack.extend(referents(o))
        if t is dict or isinstance(o, dict):
            stack.extend(o.keys())
    return total, count


# --- timing -----------------------------------------------------------------------------------


def measure(tool, obj):
    """Times one call of `tool` on `obj`: (seconds, {count name: value})."""
    gc.collect()
    gc.disable()
    try:
        if tool == "refscope":
            t0 = time.perf_counter()
            r = refscope.size(obj)
            t1 = time.perf_counter()
            counts = {"deep": r.deep, "retained": r.retained, "objects": r.objects}
        elif tool == "refscope-deep":
            t0 = time.perf_counter()
            r = refscope.size(obj, retained=False, top=0)
            t1 = time.perf_counter()
            counts = {"deep": r.deep, "objects": r.objects}
        elif tool == "pympler":
            t0 = time.perf_counter()
            b = pympler_asizeof.asizeof(obj)
            t1 = time.perf_counter()
            counts = {"deep": b}
        else:
            t0 = time.perf_counter()
            b, n = python_deep(obj)
            t1 = time.perf_counter()
            counts = {"deep": b, "objects": n}
    finally:
        gc.enable()
    return t1 - t0, counts


def run_one(tool, name, n):
    """Builds a fresh structure, measures it once and drops it. The only reference to the
    structure is the local `obj` (refscope's retained size sees references from outside)."""
    obj = BUILDERS[name](n)
    seconds, counts = measure(tool, obj)
    del obj
    return seconds, counts


def after_pympler(name, n):
    """refscope's counts on a structure pympler has just walked (untimed)."""
    obj = BUILDERS[name](n)
    pympler_asizeof.asizeof(obj)
    r = refscope.size(obj)
    counts = {"deep": r.deep, "retained": r.retained, "objects": r.objects}
    del obj
    return counts


def warm_up():
    """One untimed call of each tool on a tiny structure of each kind (imports, caches)."""
    for name in BUILDERS:
        for tool in TOOLS:
            run_one(tool, name, 10)


# --- formatting -------------------------------------------------------------------------------


def fmt_time(s):
    if s >= 1:
        return f"{s:.3f} s"
    if s >= 1e-3:
        return "%.2f ms" % (s * 1e3)
    return "%.1f us" % (s * 1e6)


def fmt_bytes(b):
    return f"{b:,} B"


def fmt_ratio(r):
    if r is None:
        return "-"
    return f"{r:.1f}x" if r < 100 else f"{r:.0f}x"


def ratio(a, b):
    return a / b if b > 0 else None


def count_summary(values):
    """The count if every run gave the same one, else 'min..max (varies)'."""
    lo, hi = min(values), max(values)
    return (lo, None) if lo == hi else (lo, hi)


def extension_info():
    """Path of the loaded extension and whether it carries DWARF debug info (a debug build,
    `maturin develop` without --release, is typically 10x+ slower)."""
    mod = getattr(refscope, "_refscope", None)
    path = getattr(mod, "__file__", None)
    debug = None
    if path and os.path.exists(path):
        try:
            debug = elf_has_section(path, b".debug_info")
        except Exception:
            debug = None
    return path, debug


def elf_has_section(path, wanted):
    """Reads only the ELF section headers and names (64-bit little-endian)."""
    import struct

    with open(path, "rb") as f:
        ident = f.read(16)
        if ident[:4] != b"\x7fELF" or ident[4] != 2 or ident[5] != 1:
            return None
        f.seek(0x28)
        (shoff,) = struct.unpack("<Q", f.read(8))
        f.seek(0x3A)
        shentsize, shnum, shstrndx = struct.unpack("<HHH", f.read(6))
        f.seek(shoff + shstrndx * shentsize)
        sh = f.read(shentsize)
        str_off, str_size = struct.unpack("<QQ", sh[0x18:0x28])
        f.seek(str_off)
        names = f.read(str_size)
        for k in range(shnum):
            f.seek(shoff + k * shentsize)
            (name_off,) = struct.unpack("<I", f.read(4))
            end = names.find(b"\0", name_off)
            if names[name_off:end] == wanted:
                return True
    return False


# --- main -------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="runs per tool and structure (default 5)")
    ap.add_argument("--quick", action="store_true", help="sizes / 100, for smoke tests only")
    ap.add_argument("--json", metavar="FILE", help="save every time and count as JSON")
    args = ap.parse_args()
    if args.runs < 1:
        ap.error("--runs must be at least 1")

    sizes = {k: (v // 100 if args.quick else v) for k, v in SIZES.items()}
    ext_path, ext_debug = extension_info()
    started = time.perf_counter()

    print("refscope %s  ·  pympler %s  ·  Python %s (%s)  ·  %d runs%s"
          % (refscope.__version__, pympler.__version__, platform.python_version(),
             platform.machine(), args.runs, "  ·  --quick: sizes / 100, targets not meaningful"
             if args.quick else ""))
    print(f"extension: {ext_path}")
    if ext_debug:
        print("WARNING: the refscope extension carries debug info: probably a debug build "
              "(maturin develop without --release); its times are not representative.")
    print("Fresh structures: every timed call (each tool, each run) measured its own newly built "
          "structure;\n  'after pympler' is refscope, untimed, on one structure pympler had "
          "just walked (not fresh).")
    print("Times: one call each, gc collected before and disabled during the call; "
          "median [min .. max] over runs.")

    warm_up()

    results = {}
    for name in BUILDERS:
        n = sizes[name]
        times = {t: [] for t in TOOLS}
        counts = {t: [] for t in TOOLS}
        for run in range(args.runs):
            order = TOOLS[run % len(TOOLS):] + TOOLS[:run % len(TOOLS)]
            for tool in order:
                seconds, c = run_one(tool, name, n)
                times[tool].append(seconds)
                counts[tool].append(c)
        touched = after_pympler(name, n)

        med = {t: statistics.median(times[t]) for t in TOOLS}
        rs_deep, rs_deep_hi = count_summary([c["deep"] for c in counts["refscope"]])
        rs_ret, rs_ret_hi = count_summary([c["retained"] for c in counts["refscope"]])
        pm_deep, pm_deep_hi = count_summary([c["deep"] for c in counts["pympler"]])
        py_deep, py_deep_hi = count_summary([c["deep"] for c in counts["python"]])

        res = {
            "n": n,
            "description": DESCRIPTIONS[name].format(n=n),
            "fresh": "every timed call on its own newly built structure",
            "times_s": times,
            "median_s": med,
            "counts": counts,
            "refscope_after_pympler": touched,
            "ratios": {
                "pympler_over_refscope_deep": ratio(med["pympler"], med["refscope-deep"]),
                "pympler_over_refscope_retained": ratio(med["pympler"], med["refscope"]),
                "python_over_refscope": ratio(med["python"], med["refscope-deep"]),
            },
            "pympler_bytes_over_refscope_deep": ratio(pm_deep, rs_deep),
            "pympler_truncated": pm_deep < 0.5 * rs_deep,
            "deep_only_equals_deep": all(c["deep"] == rs_deep for c in counts["refscope-deep"]),
            "python_deep_equals_refscope_deep": py_deep == rs_deep and py_deep_hi is None
            and rs_deep_hi is None,
        }
        results[name] = res

        print()
        print("{}: {}".format(name, res["description"]))
        w = 9
        for tool, label in (("refscope", "refscope (deep + retained, one call)"),
                            ("refscope-deep", "refscope retained=False (deep only)"),
                            ("pympler", "pympler asizeof"),
                            ("python", "pure-Python walk")):
            print("  %-38s %*s  [%s .. %s]" % (label, w, fmt_time(med[tool]),
                                                fmt_time(min(times[tool])), fmt_time(max(times[tool]))))

        def line(label, value, hi, note=""):
            shown = fmt_bytes(value) if hi is None else f"{fmt_bytes(value)} .. {fmt_bytes(hi)} (varies)"
            print("  %-38s %20s%s" % (label, shown, note))

        print("  bytes")
        line("refscope deep", rs_deep, rs_deep_hi,
             "  ({} objects)".format("{:,}".format(counts["refscope"][-1]["objects"])))
        line("refscope retained", rs_ret, rs_ret_hi,
             "  (%.1f%% of deep)" % (100.0 * rs_ret / rs_deep if rs_deep else 0.0))
        pm_share = ratio(pm_deep, rs_deep)
        note = "  (%.1f%% of refscope deep)" % (100 * pm_share) if pm_share is not None else ""
        if res["pympler_truncated"]:
            note += "  <- truncated: asizeof's limit=100 recursion depth, no warning"
        line("pympler asizeof", pm_deep, pm_deep_hi, note)
        line("pure-Python deep", py_deep, py_deep_hi,
             "  (%s refscope deep)" % ("=" if res["python_deep_equals_refscope_deep"] else "!="))
        grown = touched["deep"] - rs_deep
        line("refscope deep after pympler", touched["deep"], None,
             "  ({:+,} B, {:+,} objects: __dict__s pympler materialized)".format(
                 grown, touched["objects"] - counts["refscope"][-1]["objects"])
             if grown else "  (unchanged)")
        r = res["ratios"]
        print("  ratios  pympler/refscope deep {} (target >= {:.0f}x)  ·  retained {} (target >= {:.0f}x)"
              "  ·  python/refscope {}".format(fmt_ratio(r["pympler_over_refscope_deep"]), TARGET_DEEP,
                                           fmt_ratio(r["pympler_over_refscope_retained"]),
                                           TARGET_RETAINED, fmt_ratio(r["python_over_refscope"])))

    print()
    print("Summary (ratios of medians)%s" % ("  --quick: targets not meaningful" if args.quick else ""))
    print("  %-9s %18s %22s %16s" % ("structure", "pympler/rs deep", "pympler/rs retained",
                                      "python/rs"))
    all_ok = True
    for name, res in results.items():
        r = res["ratios"]
        d, rt, p = (r["pympler_over_refscope_deep"], r["pympler_over_refscope_retained"],
                    r["python_over_refscope"])
        ok_d = d is not None and d >= TARGET_DEEP
        ok_r = rt is not None and rt >= TARGET_RETAINED
        # Where pympler stopped early it measured something else: no target there.
        judged = not res["pympler_truncated"]
        all_ok = all_ok and ((ok_d and ok_r) or not judged)
        v_d, v_r = (("ok" if ok else "MISS") if judged else "-" for ok in (ok_d, ok_r))
        print("  %-9s %12s %-5s %16s %-5s %16s%s" % (name, fmt_ratio(d), v_d,
                                                     fmt_ratio(rt), v_r,
                                                     fmt_ratio(p),
                                                     "  (pympler truncated: it did less work)"
                                                     if res["pympler_truncated"] else ""))
    print("  targets (on the structures pympler measures whole): deep >= {:.0f}x, retained >= {:.0f}x: {}".format(
        TARGET_DEEP, TARGET_RETAINED, "all met" if all_ok else "not all met"))
    elapsed = time.perf_counter() - started
    print(f"  ({elapsed:.1f} s in all)")

    if args.json:
        out = {
            "refscope_version": refscope.__version__,
            "pympler_version": pympler.__version__,
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "machine": platform.machine(),
            "extension": ext_path,
            "extension_has_debug_info": ext_debug,
            "runs": args.runs,
            "quick": args.quick,
            "sizes": sizes,
            "targets": {"pympler_over_refscope_deep": TARGET_DEEP,
                        "pympler_over_refscope_retained": TARGET_RETAINED},
            "all_targets_met": all_ok,
            "fresh": "each timed call of each tool in each run measured its own newly built "
                     "structure; refscope_after_pympler is untimed, on a structure pympler walked",
            "seconds_total": elapsed,
            "structures": results,
        }
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
        print(f"  saved {args.json}")


if __name__ == "__main__":
    main()
