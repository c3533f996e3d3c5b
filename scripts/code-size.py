#!/usr/bin/env python3
"""The largest non-test functions and files of the Rust crates (issue #20's measure).

Usage: scripts/code-size.py [N]   (default 12 of each)
A function runs from its `fn` line to its closing brace; test modules are skipped. A
function over 80 lines counts as explained when a comment just above it (its doc
comment or attributes included) says why it is one piece, starting `One piece:`.
"""
import glob
import re
import sys

N = int(sys.argv[1]) if len(sys.argv) > 1 else 12
FN = re.compile(r"\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?fn\s+(\w+)")
functions, files = [], []
for root in ["src", "media/src", "scheduler/src", "loadgen/src"]:
    for path in glob.glob(root + "/**/*.rs", recursive=True):
        lines = open(path, encoding="utf-8").read().split("\n")
        end = next((i for i, l in enumerate(lines) if l.strip() == "#[cfg(test)]"), len(lines))
        files.append((end, path))
        i = 0
        while i < end:
            m = FN.match(lines[i])
            if not m:
                i += 1
                continue
            depth, started, j = 0, False, i
            while j < end:
                for ch in lines[j]:
                    if ch == "{":
                        depth, started = depth + 1, True
                    elif ch == "}":
                        depth -= 1
                if started and depth == 0:
                    break
                if not started and lines[j].rstrip().endswith(";"):
                    break
                j += 1
            if started:
                k = i - 1
                while k >= 0 and lines[k].strip().startswith(("///", "//", "#[")):
                    k -= 1
                explained = any("One piece:" in l for l in lines[k + 1 : i])
                functions.append((j - i + 1, path, m.group(5), explained))
                i = j + 1
            else:
                i += 1
functions.sort(reverse=True)
files.sort(reverse=True)
long = [f for f in functions if f[0] > 80]
unexplained = [f for f in long if not f[3]]
print(f"{len(long)} non-test functions over 80 lines, {len(unexplained)} without a `One piece:` reason")
for lines, path, name, explained in functions[:N]:
    print(f"  {lines:5} {path} {name}{'' if explained else '' if lines <= 80 else '  (no reason given)'}")
if unexplained:
    print("over 80 lines without a reason:")
    for lines, path, name, _ in unexplained:
        print(f"  {lines:5} {path} {name}")
print("largest files (non-test lines)")
for lines, path in files[:N]:
    print(f"  {lines:5} {path}")
