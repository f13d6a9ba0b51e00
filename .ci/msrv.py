#!/usr/bin/env python3
"""Checks the rust-version the library crates declare against Cargo.lock.

availsync-types and availsync-sdk declare the lowest Rust their
dependencies allow. Only one toolchain is installed where the project is
built, so the declared version cannot be proven by building with it;
what can be checked is that no dependency in Cargo.lock, with every
feature of the crate on and on every platform, declares a higher
`rust-version` than the crate does. The language and library features
the crates' own code uses are checked by clippy's `incompatible_msrv`
lint (it reads the same field) and by reading (docs/msrv.md).

Usage: python3 .ci/msrv.py            (checks, exits 1 on a violation)
       python3 .ci/msrv.py --report   (also lists the highest ones)
"""

import json
import subprocess
import sys

CRATES = ["availsync-types", "availsync-sdk"]


def version(text):
    parts = [int(part) for part in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def main():
    report = "--report" in sys.argv
    metadata = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--all-features", "--locked"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    packages = {p["id"]: p for p in metadata["packages"]}
    nodes = {n["id"]: n for n in metadata["resolve"]["nodes"]}
    failed = False
    for name in CRATES:
        root = next(p for p in metadata["packages"] if p["name"] == name and p["source"] is None)
        declared = root.get("rust_version")
        if not declared:
            print(f"{name}: declares no rust-version")
            failed = True
            continue
        # Normal and build dependencies, transitively: what a user of the
        # crate compiles (dev-dependencies are the crate's own tests').
        seen, stack = set(), [root["id"]]
        while stack:
            for dep in nodes[stack.pop()]["deps"]:
                kinds = {k["kind"] for k in dep["dep_kinds"]}
                if kinds <= {"dev"} or dep["pkg"] in seen:
                    continue
                seen.add(dep["pkg"])
                stack.append(dep["pkg"])
        versions = sorted(
            ((packages[p].get("rust_version"), packages[p]["name"], packages[p]["version"]) for p in seen),
            key=lambda v: version(v[0]) if v[0] else (0,),
            reverse=True,
        )
        over = [v for v in versions if v[0] and version(v[0]) > version(declared)]
        unknown = [v for v in versions if not v[0]]
        highest = versions[0] if versions and versions[0][0] else None
        print(
            f"{name}: rust-version {declared}; {len(versions)} dependencies "
            f"({len(unknown)} declare none), highest {highest[1]} {highest[2]} at {highest[0]}"
        )
        if report:
            for rust, dep, ver in versions[:10]:
                print(f"    {rust:>6}  {dep} {ver}")
            print(f"    no rust-version: {', '.join(f'{d} {v}' for _, d, v in unknown) or 'none'}")
        for rust, dep, ver in over:
            print(f"  {dep} {ver} needs Rust {rust}, above the declared {declared}")
            failed = True
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
