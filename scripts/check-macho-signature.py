#!/usr/bin/env python3
"""Checks that a thin 64-bit Mach-O executable carries an ad-hoc code signature that covers it as it is.

macOS on Apple silicon kills an arm64 executable whose code signature is missing or whose page hashes do not
match (`Killed: 9`), so a binary changed after linking (stripped, patched) without re-signing cannot run.
This recomputes every page hash of the signature's CodeDirectory and compares. The layout followed is Apple's
`cs_blobs.h` (xnu osfmk/kern/cs_blobs.h): a big-endian SuperBlob (magic 0xfade0cc0) whose index points at a
CodeDirectory (0xfade0c02) with `hashOffset`, `nCodeSlots`, `codeLimit`, `hashSize`, `hashType`, `pageSize`.

An x86_64 executable may be unsigned: Apple's linker (ld64) ad-hoc signs arm64 output only, and macOS runs
unsigned x86_64 code (on Intel Macs and under Rosetta 2); with --unsigned-ok such a file passes, and a signature,
when present, must still match.

Usage: check-macho-signature.py [--unsigned-ok] FILE
  (exit 0 and one summary line when the signature matches, or when unsigned with --unsigned-ok)
"""

import hashlib
import struct
import sys

MH_MAGIC_64 = 0xFEEDFACF
LC_CODE_SIGNATURE = 0x1D
CSMAGIC_EMBEDDED_SIGNATURE = 0xFADE0CC0
CSMAGIC_CODEDIRECTORY = 0xFADE0C02
HASHES = {1: "sha1", 2: "sha256"}


def fail(message):
    sys.exit(f"check-macho-signature: {message}")


class Unsigned(Exception):
    """The file has no LC_CODE_SIGNATURE load command."""


def code_signature_range(data):
    magic, _cpu, _sub, _filetype, ncmds, _size, _flags, _res = struct.unpack_from("<8I", data, 0)
    if magic != MH_MAGIC_64:
        fail("not a thin 64-bit little-endian Mach-O file")
    offset = 32
    for _ in range(ncmds):
        cmd, cmdsize = struct.unpack_from("<2I", data, offset)
        if cmd == LC_CODE_SIGNATURE:
            return struct.unpack_from("<2I", data, offset + 8)
        offset += cmdsize
    raise Unsigned()


def main(path, unsigned_ok):
    data = open(path, "rb").read()
    try:
        dataoff, datasize = code_signature_range(data)
    except Unsigned:
        if unsigned_ok:
            print(f"{path}: not signed (accepted: --unsigned-ok)")
            return
        fail("no LC_CODE_SIGNATURE load command: the binary is not signed")
    blob = data[dataoff : dataoff + datasize]
    magic, _length, count = struct.unpack_from(">3I", blob, 0)
    if magic != CSMAGIC_EMBEDDED_SIGNATURE:
        fail(f"signature blob magic {magic:#x} is not an embedded signature")
    checked = 0
    for i in range(count):
        _slot, off = struct.unpack_from(">2I", blob, 12 + 8 * i)
        if struct.unpack_from(">I", blob, off)[0] != CSMAGIC_CODEDIRECTORY:
            continue
        cd = blob[off:]
        # CodeDirectory: magic length version flags hashOffset identOffset nSpecialSlots nCodeSlots codeLimit,
        # then the bytes hashSize hashType platform pageSize.
        hash_offset, _ident, _special, n_code, code_limit = struct.unpack_from(">5I", cd, 16)
        hash_size, hash_type, _platform, page_log2 = struct.unpack_from(">4B", cd, 36)
        if hash_type not in HASHES:
            fail(f"unknown hash type {hash_type}")
        page = 1 << page_log2
        if code_limit != dataoff:
            fail(f"the signature covers {code_limit} bytes but the code ends at {dataoff}")
        if n_code != (code_limit + page - 1) // page:
            fail(f"{n_code} page hashes for {code_limit} bytes in pages of {page}")
        for n in range(n_code):
            want = cd[hash_offset + n * hash_size : hash_offset + (n + 1) * hash_size]
            got = hashlib.new(HASHES[hash_type], data[n * page : min((n + 1) * page, code_limit)]).digest()
            if got[:hash_size] != want:
                fail(f"page {n} (offset {n * page}) does not match its hash: the binary changed after signing")
        checked += 1
        print(f"{path}: code signature matches ({n_code} pages of {page} bytes, {HASHES[hash_type]})")
    if not checked:
        fail("the signature has no CodeDirectory")


if __name__ == "__main__":
    args = sys.argv[1:]
    allow = args[:1] == ["--unsigned-ok"]
    if allow:
        args = args[1:]
    if len(args) != 1:
        sys.exit(__doc__)
    main(args[0], allow)
