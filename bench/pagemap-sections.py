#!/usr/bin/env python3
"""bench/pagemap-sections.py PID BINARY: which ELF sections of BINARY are resident in process PID, in KB.

Walks /proc/PID/maps for the mappings of BINARY and /proc/PID/pagemap for each page (present bit 63; bit 61:
file page, else a private copy — anonymous, e.g. a page the loader relocated). Each page is counted in the section
that holds its first byte in the file. Needs to read another process's pagemap: run as that process's user or root.
"""
import os, struct, sys

def sections(path):
    with open(path, "rb") as f:
        ehdr = f.read(64)
        assert ehdr[:4] == b"\x7fELF" and ehdr[4] == 2, "64-bit ELF only"
        shoff, = struct.unpack_from("<Q", ehdr, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", ehdr, 0x3A)
        f.seek(shoff)
        raw = f.read(shentsize * shnum)
        hdrs = [struct.unpack_from("<IIQQQQIIQQ", raw, i * shentsize) for i in range(shnum)]
        stroff, strsize = hdrs[shstrndx][4], hdrs[shstrndx][5]
        f.seek(stroff)
        names = f.read(strsize)
    out = []
    for name, typ, flags, addr, off, size, *_ in hdrs:
        if typ == 8 or size == 0 or not (flags & 2):  # NOBITS, empty or not allocated
            continue
        out.append((off, off + size, names[name:names.index(b"\0", name)].decode()))
    return sorted(out)

def main():
    pid, binary = sys.argv[1], os.path.realpath(sys.argv[2])
    secs = sections(binary)
    page = os.sysconf("SC_PAGE_SIZE")
    file_kb, anon_kb = {}, {}
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/pagemap", "rb") as pm:
        for line in maps:
            parts = line.split()
            if len(parts) < 6 or os.path.realpath(parts[5]) != binary:
                continue
            start, end = (int(x, 16) for x in parts[0].split("-"))
            offset = int(parts[2], 16)
            npages = (end - start) // page
            pm.seek(start // page * 8)
            entries = struct.unpack(f"<{npages}Q", pm.read(npages * 8))
            for i, e in enumerate(entries):
                if not (e >> 63) & 1:
                    continue
                foff = offset + i * page
                name = "(headers/padding)"
                for lo, hi, n in secs:
                    if lo <= foff < hi or (foff < lo < foff + page):
                        name = n
                        break
                d = file_kb if (e >> 61) & 1 else anon_kb
                d[name] = d.get(name, 0) + page // 1024
    names = sorted(set(file_kb) | set(anon_kb), key=lambda n: -(file_kb.get(n, 0) + anon_kb.get(n, 0)))
    print(f"{'section':<24}{'file KB':>10}{'private KB':>12}")
    for n in names:
        print(f"{n:<24}{file_kb.get(n, 0):>10}{anon_kb.get(n, 0):>12}")
    print(f"{'total':<24}{sum(file_kb.values()):>10}{sum(anon_kb.values()):>12}")
    # Everything else the process has resident, by mapping name (smaps' Rss; shared libraries, heap, stacks).
    other, name = {}, None
    with open(f"/proc/{pid}/smaps") as smaps:
        for line in smaps:
            parts = line.split()
            if "-" in parts[0] and len(parts) >= 5 and ":" in parts[3]:
                path = parts[5] if len(parts) > 5 else "[anonymous]"
                name = None if os.path.realpath(path) == binary else os.path.basename(path)
            elif parts[0] == "Rss:" and name is not None:
                other[name] = other.get(name, 0) + int(parts[1])
    print("other mappings (smaps Rss KB): " + ", ".join(f"{n} {kb}" for n, kb in
          sorted(other.items(), key=lambda x: -x[1]) if kb))

main()
