#!/usr/bin/env python3
"""Where a process's CPU time went, by kind of code: reads `perf report --sort dso,sym` (cpu-clock samples of one
process) on stdin and prints each kind's share of all samples and of the user-space ones, then the functions that
took the most user time.

Used by bench/time-split. The kinds are told apart by the shared object and by the Swift module in the mangled
symbol name, so that instruction counts (bench/profile) can be set against time: under load a retain costs an
atomic operation and a cold object's cache line, a byte loop a fraction of a cycle per instruction.
"""
import re
import sys

from callgrind_summary import demangle  # the same directory: Python puts it on the path

KINDS = [
    # (name, test on (dso, symbol)); the first that matches wins.
    ("kernel", lambda dso, sym: dso.startswith("[kernel")),
    ("foap's code", lambda dso, sym: re.match(r"\$s\d+(FOAP|foap)", sym) is not None),
    ("SwiftNIO", lambda dso, sym: re.match(r"\$s\d+_?C?NIO", sym) is not None),
    ("reference counting", lambda dso, sym: re.match(
        r"(swift_(retain|release|bridgeObject|weak|unknownObject|isUniquelyReferenced)|_swift_release_dealloc"
        r"|swift::RefCounts|swift_deallocClassInstance)", sym) is not None),
    ("exclusivity checks", lambda dso, sym: re.match(
        r"(swift_(begin|end)Access|swift::runtime::(AccessSet|SwiftTLSContext))", sym) is not None),
    ("Swift runtime and stdlib", lambda dso, sym: re.match(r"(swift|_swift|__swift|\$ss|\$s\d+Swift)", sym) is not None),
    ("malloc and free", lambda dso, sym: dso.startswith("libc") and re.match(
        r"(malloc|free|cfree|_int_|posix_memalign|_mid_memalign|tcache|__libc_(malloc|free))", sym) is not None),
    ("memcpy, memchr, memmove", lambda dso, sym: dso.startswith("libc") and re.match(r"__mem", sym) is not None),
    ("other libc", lambda dso, sym: dso.startswith("libc")),
    ("other", lambda dso, sym: True),
]

LINE = re.compile(r"\s*([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.*\S)")


def main() -> None:
    top = int(sys.argv[1]) if len(sys.argv) > 1 else 25
    # The worker's user and system µs per request in a load without perf, when given: each user-space kind's share
    # of the sampled user time is turned into µs of that (perf's own cost lands in the kernel, not in these).
    user_us = float(sys.argv[2]) if len(sys.argv) > 2 else None
    system_us = float(sys.argv[3]) if len(sys.argv) > 3 else None
    rows = []
    for line in sys.stdin:
        match = LINE.match(line)
        if match:
            rows.append((float(match.group(1)), match.group(2), match.group(4)))
    shares = {name: 0.0 for name, _ in KINDS}
    for percent, dso, symbol in rows:
        shares[next(name for name, test in KINDS if test(dso, symbol))] += percent
    user = sum(share for name, share in shares.items() if name != "kernel")
    timed = user_us is not None and system_us is not None
    print("| kind of code | % of the process's samples | % of its user time |" + (" µs per request |" if timed else ""))
    print("|---|---:|---:|" + ("---:|" if timed else ""))
    for name, _ in KINDS:
        if shares[name] >= 0.05:
            of_user = "–" if name == "kernel" else f"{100 * shares[name] / user:.1f}"
            row = f"| {name} | {shares[name]:.1f} | {of_user} |"
            if timed:
                micros = system_us if name == "kernel" else user_us * shares[name] / user
                row += f" {micros:.2f} |"
            print(row)
    if timed:
        print(f"| (user time, without perf) | | 100 | {user_us:.2f} |")
    print()
    users = [row for row in rows if not row[1].startswith("[kernel")][:top]
    names = demangle([row[2] for row in users])
    print(f"top {len(users)} user-space functions (% of the process's samples, self):")
    for (percent, dso, _), name in zip(users, names):
        print(f"{percent:6.2f}  {name[:150]}  [{dso}]")


if __name__ == "__main__":
    main()
