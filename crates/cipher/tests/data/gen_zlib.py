#!/usr/bin/env python3
"""Generates zlib_stream.txt: four packet payloads compressed as OpenSSH does (one zlib
stream, level 6, Z_PARTIAL_FLUSH after each packet), by Python's zlib (the C library).
Each line: the payload in hex, then its compressed form in hex.

Run: python3 gen_zlib.py > zlib_stream.txt
"""
import zlib

payloads = [
    b"\x05\x00\x00\x00\x0cssh-userauth",
    b"\x5e\x00\x00\x00\x00\x00\x00\x00\x20" + b"ls -la /home/user/projects\n" * 3,
    b"\x5e\x00\x00\x00\x00\x00\x00\x01\x00" + bytes(range(256)),
    b"\x5e\x00\x00\x00\x00\x00\x00\x00\x20" + b"ls -la /home/user/projects\n" * 9,
]

c = zlib.compressobj(6)
print("# payload compressed (one zlib stream, Z_PARTIAL_FLUSH per packet), hex")
for p in payloads:
    z = c.compress(p) + c.flush(zlib.Z_PARTIAL_FLUSH)
    print(p.hex(), z.hex())
