#!/usr/bin/env python3
"""Writes a `differential` fuzz input from readable operations (the inverse of
`cargo +nightly fuzz fmt differential <file>`), for re-creating kept inputs after a
change to the input types.

    fuzz/encode.py -o fuzz/regressions/differential/NAME \
        --flavor Mpmc --policy Reject --capacity 1 [--exact] [--credits 2] --teardown 0 \
        'Reserve(0, Try, Drop)' 'Send(0)'

    fuzz/encode.py --list fuzz/regressions/differential.txt

The second form re-creates every kept input from a list of `NAME: ARGUMENTS` lines (the
arguments of the first form, quoted as in a shell; `#` starts a comment line), writing
each into the directory named like the list without `.txt`.

The enums (`Flavor`, `PolicyIn`, `By`, `Use`, `How`, `Deadline`, `Op`) are read from
fuzz_targets/differential.rs, so the encoding follows their current order. It mirrors
`arbitrary` 1.x: an enum variant is a little-endian u32 `x` with `(x * variants) >> 32 ==
index`, a bool is a byte (odd: true), an `Option` is a bool then (if `Some`) the value, a `Vec`
that is not the last field is a run of (continue byte 1, element) ended by a 0 byte, and the
last field takes the rest.
"""
import argparse
import os
import re
import shlex
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "fuzz_targets", "differential.rs")


def parse_enums(text):
    """{enum name: [(variant, [field types])]} for the enums that derive Arbitrary."""
    enums = {}
    for m in re.finditer(r"#\[derive\(Arbitrary[^\]]*\)\]\s*enum\s+(\w+)\s*\{", text):
        name, start, depth, i = m.group(1), m.end(), 1, m.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        body = re.sub(r"//[^\n]*", "", text[start:i - 1])
        variants = []
        for v in re.finditer(r"(\w+)\s*(?:\(([^)]*)\))?\s*,", body):
            fields = [f.strip() for f in (v.group(2) or "").split(",") if f.strip()]
            variants.append((v.group(1), fields))
        enums[name] = variants
    return enums


def variant_bytes(index, count):
    x = -(-(index << 32) // count)  # ceil(index * 2^32 / count)
    assert (x * count) >> 32 == index and x < 1 << 32
    return struct.pack("<I", x)


def split_args(s):
    out, depth, cur = [], 0, ""
    for c in s:
        if c == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
            continue
        depth += {"(": 1, ")": -1}.get(c, 0)
        cur += c
    if cur.strip():
        out.append(cur.strip())
    return out


def encode_value(enums, ty, text):
    text = text.strip()
    if ty == "u8":
        return bytes([int(text, 0) & 0xFF])
    if ty == "bool":
        return bytes([1 if text.lower() == "true" else 0])
    if ty not in enums:
        sys.exit(f"unknown type {ty}")
    m = re.fullmatch(r"(\w+)\s*(?:\((.*)\))?", text, re.S)
    if not m:
        sys.exit(f"cannot parse {text!r} as {ty}")
    names = [v for v, _ in enums[ty]]
    if m.group(1) not in names:
        sys.exit(f"{m.group(1)} is not a variant of {ty} ({', '.join(names)})")
    index = names.index(m.group(1))
    fields = enums[ty][index][1]
    args = split_args(m.group(2) or "")
    if len(args) != len(fields):
        sys.exit(f"{text}: {ty}::{m.group(1)} takes {len(fields)} field(s): {fields}")
    out = variant_bytes(index, len(names))
    for f, a in zip(fields, args):
        out += encode_value(enums, f, a)
    return out


def encode(enums, a):
    data = encode_value(enums, "Flavor", a.flavor)
    data += encode_value(enums, "PolicyIn", a.policy)
    data += bytes([a.capacity & 0xFF])
    data += bytes([1 if a.exact else 0])
    # Input::credits: Option<u8> (absent: no credit gate).
    data += b"\x00" if a.credits is None else b"\x01" + bytes([a.credits & 0xFF])
    for op in a.ops:
        data += b"\x01" + encode_value(enums, "Op", op)
    data += b"\x00" + bytes([a.teardown & 0xFF])
    return data


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--output")
    ap.add_argument("--list", help="re-create every input of a NAME: ARGUMENTS list")
    ap.add_argument("--flavor", default="Mpmc")
    ap.add_argument("--policy", default="Block")
    ap.add_argument("--capacity", type=int, default=1)
    ap.add_argument("--exact", action="store_true", help="Builder::exact_high_water")
    ap.add_argument("--credits", type=int, help="Builder::credits(N) (absent: no gate)")
    ap.add_argument("--teardown", type=int, default=0)
    ap.add_argument("ops", nargs="*")
    a = ap.parse_args()
    enums = parse_enums(open(SOURCE).read())
    if a.list:
        outdir = os.path.splitext(a.list)[0]
        os.makedirs(outdir, exist_ok=True)
        for line in open(a.list):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, _, args = line.partition(":")
            sub = ap.parse_args(shlex.split(args))
            with open(os.path.join(outdir, name.strip()), "wb") as f:
                f.write(encode(enums, sub))
        return
    if not a.output:
        ap.error("-o/--output or --list is required")
    with open(a.output, "wb") as f:
        f.write(encode(enums, a))


if __name__ == "__main__":
    main()
