#!/usr/bin/env python3
"""Per-request figures from one callgrind.out: the functions with the most instructions of their own, how often the
runtime calls that cost more than their instructions were made (reference counting, exclusivity checks, malloc), and
which functions make the most of them.

    callgrind_summary.py CALLGRIND_OUT REQUESTS [TOP]

Used by bench/profile (callgrind_annotate's exclusive list gives every instruction to `start_thread` on these files).
Under load a retain or release is an atomic operation on an object's count, often on a cache line another request
pushed out: bench/time-split puts reference counting at ~23 % of foap's user time, more than its instructions' share.
"""
import collections
import re
import subprocess
import sys

COUNTED = [
    ("retains", r"swift_(retain|retain_n|bridgeObjectRetain|bridgeObjectRetain_n|unknownObjectRetain)"),
    ("releases", r"swift_(release|release_n|bridgeObjectRelease|bridgeObjectRelease_n|unknownObjectRelease)"),
    ("exclusivity checks", r"swift_beginAccess"),
    ("allocations", r"(malloc|posix_memalign|calloc|realloc)"),
]
# The callers listed for each kind of call above; an allocation's are looked for one level up, above the runtime's
# wrappers (every Swift object and array comes through swift_allocObject / swift_slowAlloc to malloc).
CALLERS_SHOWN = 6
CALLERS_OF = {"allocations": r"(swift_allocObject|swift_slowAlloc|malloc|posix_memalign|_mid_memalign.*)"}


def read(path):
    """Self cost per function and (caller, callee) call counts, from callgrind's compressed name format."""
    names, own, calls = {}, collections.Counter(), collections.Counter()
    function = callee = None
    pending = None

    def name(value):
        match = re.match(r"\((\d+)\)(?: (.*))?", value)
        if not match:
            return value
        if match.group(2) is not None:
            # callgrind marks a function's recursive cycles as name'2, name'3…: the same function.
            names[match.group(1)] = re.sub(r"'\d+$", "", match.group(2))
        return names.get(match.group(1), "?")

    with open(path, errors="replace") as lines:
        for line in lines:
            if line.startswith("fn="):
                function = name(line[3:].strip())
            elif line.startswith("cfn="):
                callee = name(line[4:].strip())
            elif line.startswith("calls="):
                pending = int(line[6:].split()[0])
            elif line[:1].isdigit() or line[:1] in "+-*":
                if pending is not None:
                    calls[(function, callee)] += pending
                    pending = None
                else:
                    parts = line.split()
                    if len(parts) > 1:
                        own[function] += int(parts[1])
    return own, calls


def demangle(names):
    """Swift's readable names for `names`, in order (`swift demangle`; C names come back as they are)."""
    lines = subprocess.run(
        ["swift", "demangle", "--simplified", "--compact"], input="\n".join(names),
        capture_output=True, text=True, check=False).stdout.split("\n")
    return lines[:len(names)]


def main() -> None:
    path, requests = sys.argv[1], float(sys.argv[2])
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 40
    own, calls = read(path)

    def callers_of(pattern):
        """The calls into functions matching `pattern`, by caller, from outside that family only: a
        swift_bridgeObjectRetain calls swift_retain, a release's deinit releases more."""
        rule = re.compile(pattern + r"$")
        callers = collections.Counter()
        for (caller, callee), n in calls.items():
            if rule.match(callee) and not rule.match(caller or ""):
                callers[caller] += n
        return callers

    counts, makers = [], []
    for label, pattern in COUNTED:
        callers = callers_of(pattern)
        counts.append(f"{label} {sum(callers.values()) / requests:.0f}")
        if label in CALLERS_OF:
            callers = callers_of(CALLERS_OF[label])
        makers.append((label, callers.most_common(CALLERS_SHOWN)))
    print("per request: " + ", ".join(counts))
    # Who makes them: where a stage that cuts them would look (the callers after inlining, so a caller is often a
    # function that others were inlined into; the callgrind.out files have the whole call graph).
    for label, top_callers in makers:
        names = demangle([caller or "?" for caller, _ in top_callers])
        print(f"{label} by caller (per request):")
        for (_, n), name in zip(top_callers, names):
            print(f"{n / requests:9.1f}  {name[:170]}")
    ranked = own.most_common(top)
    demangled = demangle([n for n, _ in ranked])
    print("top exclusive (instructions per request, own):")
    for (_, cost), label in zip(ranked, demangled):
        print(f"{cost / requests:9.0f}  {label[:170]}")


if __name__ == "__main__":
    main()
