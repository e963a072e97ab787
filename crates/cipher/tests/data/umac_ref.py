"""UMAC (RFC 4418), written from the RFC's pseudocode with Python integers, for gen_vectors.py.

Independent of whelk's Rust code: plain integers instead of limbs, the RFC's ENDIAN-SWAP,
zeropad and POLY as written. Running this file checks it against RFC 4418's test vectors
(UMAC-32/64/96; the 128-bit figures are the reference implementation's, which the RFC prints
cut to 96 bits).

Run: python3 umac_ref.py   (needs the `cryptography` package)
"""
import struct
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

P36 = (1 << 36) - 5
P64 = (1 << 64) - 59
P128 = (1 << 128) - 159


def aes(key, block):
    return Cipher(algorithms.AES(key), modes.ECB()).encryptor().update(block)


def kdf(key, index, numbytes):  # RFC 4418 §3.2.1
    n = (numbytes + 15) // 16
    y = b"".join(aes(key, struct.pack(">QQ", index, i)) for i in range(1, n + 1))
    return y[:numbytes]


def pdf(key, nonce, taglen):  # §3.2.2
    index = 0
    if taglen in (4, 8):
        index = int.from_bytes(nonce, "big") % (16 // taglen)
        nonce = (int.from_bytes(nonce, "big") ^ index).to_bytes(len(nonce), "big")
    nonce = nonce + bytes(16 - len(nonce))
    t = aes(kdf(key, 0, 16), nonce)
    if taglen in (4, 8):
        return t[index * taglen:(index + 1) * taglen]
    return t[:taglen]


def endian_swap(s):
    return b"".join(s[i:i + 4][::-1] for i in range(0, len(s), 4))


def nh(k, m):  # §5.2.2 (m already endian-swapped)
    t = len(m) // 4
    mw = struct.unpack(">%dI" % t, m)
    kw = struct.unpack(">%dI" % t, k[:4 * t])
    y = 0
    for i in range(0, t, 8):
        for j in range(4):
            y += ((mw[i + j] + kw[i + j]) % 2**32) * ((mw[i + j + 4] + kw[i + j + 4]) % 2**32)
    return y % 2**64


def zeropad(s, n):
    if len(s) == 0:
        return bytes(n)
    return s + bytes(-len(s) % n)


def l1_hash(k, m):  # §5.2.1
    chunks = [m[i:i + 1024] for i in range(0, len(m), 1024)] or [b""]
    y = b""
    for c in chunks[:-1]:
        y += struct.pack(">Q", (nh(k, endian_swap(c)) + 8192) % 2**64)
    last = chunks[-1]
    ln = 8 * len(last)
    y += struct.pack(">Q", (nh(k, endian_swap(zeropad(last, 32))) + ln) % 2**64)
    return y


def poly(wordbits, maxwordrange, k, m):  # §5.3.2
    wb = wordbits // 8
    p = {64: P64, 128: P128}[wordbits]
    offset = 2**wordbits - p
    marker = p - 1
    y = 1
    for i in range(0, len(m), wb):
        w = int.from_bytes(m[i:i + wb], "big")
        if w >= maxwordrange:
            y = (k * y + marker) % p
            y = (k * y + (w - offset)) % p
        else:
            y = (k * y + w) % p
    return y


def l2_hash(k, m):  # §5.3.1
    k64 = int.from_bytes(k[:8], "big") & 0x01FFFFFF01FFFFFF
    k128 = int.from_bytes(k[8:24], "big") & 0x01FFFFFF01FFFFFF01FFFFFF01FFFFFF
    if len(m) <= 2**17:  # 2^20 bits of L1 output: messages up to 2^24 bytes
        y = poly(64, 2**64 - 2**32, k64, m)
    else:
        m1, m2 = m[:2**17], m[2**17:]
        m2 = zeropad(m2 + b"\x80", 16)
        y = poly(64, 2**64 - 2**32, k64, m1)
        y = poly(128, 2**128 - 2**96, k128, y.to_bytes(16, "big") + m2)
    return y.to_bytes(16, "big")


def l3_hash(k1, k2, m):  # §5.4.1
    y = 0
    for i in range(8):
        y += int.from_bytes(m[2 * i:2 * i + 2], "big") * (int.from_bytes(k1[8 * i:8 * i + 8], "big") % P36)
    y %= P36
    return bytes(a ^ b for a, b in zip((y % 2**32).to_bytes(4, "big"), k2))


def uhash(key, m, taglen):  # §5.1
    iters = taglen // 4
    l1key = kdf(key, 1, 1024 + (iters - 1) * 16)
    l2key = kdf(key, 2, iters * 24)
    l3key1 = kdf(key, 3, iters * 64)
    l3key2 = kdf(key, 4, iters * 4)
    y = b""
    for i in range(iters):
        a = l1_hash(l1key[16 * i:16 * i + 1024], m)
        b = bytes(8) + a if len(m) <= 1024 else l2_hash(l2key[24 * i:24 * i + 24], a)
        y += l3_hash(l3key1[64 * i:64 * i + 64], l3key2[4 * i:4 * i + 4], b)
    return y


def umac(key, m, nonce, taglen):  # §4.1
    return bytes(a ^ b for a, b in zip(uhash(key, m, taglen), pdf(key, nonce, taglen)))


if __name__ == "__main__":
    K, N = b"abcdefghijklmnop", b"bcdefghi"
    cases = [
        (b"", "113145FB", "6E155FAD26900BE1", "32fedb100c79ad58f07ff7643cc60465"),
        (b"a" * 3, "3B91D102", "44B5CB542F220104", "185e4fe905cba7bd85e4c2dc3d117d8d"),
        (b"a" * 2**10, "599B350B", "26BF2F5D60118BD9", "7a54abe04af82d60fb298c3cbd195bcb"),
        (b"a" * 2**15, "58DCF532", "27F8EF643B0D118D", "7b136bd911e4b734286ef2be501f2c3c"),
        (b"abc", "ABF3A3A0", "D4D7B9F6BD4FBFCF", "883c3d4b97a61976ffcf232308cba5a5"),
        (b"abc" * 500, "ABEB3C8B", "D4CF26DDEFD5C01A", "8824a260c53c66a36c9260a62cb83aa1"),
    ]
    for m, t32, t64, t128 in cases:
        for tl, want in ((4, t32), (8, t64), (16, t128), (12, t128[:24])):
            got = umac(K, m, N, tl).hex()
            print(len(m), tl, got, "OK" if got == want.lower() else "FAIL " + want)
