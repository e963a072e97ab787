#!/usr/bin/env python3
"""Generates tests/data/vectors.txt: SSH-level known answers for every cipher and MAC.

An independent implementation of the packet protection specs (RFC 4253 §6, RFC 4344,
RFC 5647 as amended by OpenSSH, OpenSSH PROTOCOL §1.5 and PROTOCOL.chacha20poly1305) on top
of pyca/cryptography (OpenSSL) and Python's hmac module, plus UMAC (RFC 4418) from
umac_ref.py, a plain-integer implementation of the RFC checked against its test vectors.
UMAC as OpenSSH uses it: over the packet alone, with the sequence number as an 8-byte
big-endian nonce. Each vector seals three packets in a
row under one key, so the state carried between packets (CTR counter, CBC chaining, GCM
invocation counter) is covered too.

Run: python3 gen_vectors.py > vectors.txt   (needs the `cryptography` package)
"""
import hashlib
import hmac
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.poly1305 import Poly1305

import umac_ref

try:
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
except ImportError:  # older cryptography
    TripleDES = algorithms.TripleDES

CIPHERS = {
    # name: (key_len, iv_len, block, kind)
    "chacha20-poly1305@openssh.com": (64, 0, 8, "chachapoly"),
    "aes128-gcm@openssh.com": (16, 12, 16, "gcm"),
    "aes256-gcm@openssh.com": (32, 12, 16, "gcm"),
    "aes128-ctr": (16, 16, 16, "ctr"),
    "aes192-ctr": (24, 16, 16, "ctr"),
    "aes256-ctr": (32, 16, 16, "ctr"),
    "aes128-cbc": (16, 16, 16, "cbc"),
    "aes192-cbc": (24, 16, 16, "cbc"),
    "aes256-cbc": (32, 16, 16, "cbc"),
    "3des-cbc": (24, 8, 8, "3des"),
    "none": (0, 0, 8, "none"),
}

MACS = {
    # name: (hash, key_len, mac_len, etm); hash "umac" for UMAC
    "umac-64-etm@openssh.com": ("umac", 16, 8, True),
    "umac-128-etm@openssh.com": ("umac", 16, 16, True),
    "hmac-sha2-256-etm@openssh.com": (hashlib.sha256, 32, 32, True),
    "hmac-sha2-512-etm@openssh.com": (hashlib.sha512, 64, 64, True),
    "hmac-sha1-etm@openssh.com": (hashlib.sha1, 20, 20, True),
    "umac-64@openssh.com": ("umac", 16, 8, False),
    "umac-128@openssh.com": ("umac", 16, 16, False),
    "hmac-sha2-256": (hashlib.sha256, 32, 32, False),
    "hmac-sha2-512": (hashlib.sha512, 64, 64, False),
    "hmac-sha1": (hashlib.sha1, 20, 20, False),
    "hmac-sha1-96": (hashlib.sha1, 20, 12, False),
    "hmac-md5": (hashlib.md5, 16, 16, False),
    "hmac-md5-etm@openssh.com": (hashlib.md5, 16, 16, True),
    "none": (None, 0, 0, False),
}

PAYLOAD_LENS = [1, 27, 2100]
SEQS = [0, 1, 0xFFFFFFFF]


def pattern(n, seed):
    return bytes((seed + 7 * i) & 0xFF for i in range(n))


def plain_packet(payload, block, length_in_block, seed):
    """RFC 4253 §6 packet with the least padding (>= 4) that aligns it and reaches 16 bytes."""
    covered = (5 if length_in_block else 1) + len(payload)
    pad = block - covered % block
    if pad < 4:
        pad += block
    while 5 + len(payload) + pad < 16:
        pad += block
    body = bytes([pad]) + payload + pattern(pad, seed ^ 0x5A)
    return struct.pack(">I", len(body)) + body


def mac_of(mac, key, seq, data):
    h, _, mac_len, _ = MACS[mac]
    if h is None:
        return b""
    if h == "umac":
        return umac_ref.umac(key, data, struct.pack(">Q", seq), mac_len)
    return hmac.new(key, struct.pack(">I", seq) + data, h).digest()[:mac_len]


def chacha_legacy(key, nonce8, counter, data):
    # OpenSSL's ChaCha20 takes counter (4 bytes LE) || nonce (12 bytes); the djb variant's
    # 64-bit counter and 64-bit nonce fill the same four state words.
    iv = struct.pack("<Q", counter) + nonce8
    return Cipher(algorithms.ChaCha20(key, iv), mode=None).encryptor().update(data)


def vector(cipher, mac):
    key_len, iv_len, block, kind = CIPHERS[cipher]
    aead = kind in ("chachapoly", "gcm")
    if aead:
        mac = None
    key = pattern(key_len, 0x10)
    iv = pattern(iv_len, 0x20)
    mac_key = pattern(MACS[mac][1], 0x30) if mac else b""
    etm = aead or (mac is not None and MACS[mac][3])
    enc = None
    if kind == "ctr":
        enc = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    elif kind == "cbc":
        enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    elif kind == "3des":
        enc = Cipher(TripleDES(key), modes.CBC(iv)).encryptor()
    nonce = bytearray(iv)
    out = []
    for n, (plen, seq) in enumerate(zip(PAYLOAD_LENS, SEQS)):
        payload = pattern(plen, 0x40 + n)
        pkt = plain_packet(payload, block, not etm, n)
        if kind == "chachapoly":
            seqn = struct.pack(">Q", seq)
            k_main, k_header = key[:32], key[32:]
            enc_len = chacha_legacy(k_header, seqn, 0, pkt[:4])
            poly_key = chacha_legacy(k_main, seqn, 0, bytes(32))
            enc_body = chacha_legacy(k_main, seqn, 1, pkt[4:])
            tag = Poly1305.generate_tag(poly_key, enc_len + enc_body)
            sealed = enc_len + enc_body + tag
        elif kind == "gcm":
            ct_tag = AESGCM(key).encrypt(bytes(nonce), pkt[4:], pkt[:4])
            sealed = pkt[:4] + ct_tag
            ctr = int.from_bytes(nonce[4:], "big")
            nonce[4:] = ((ctr + 1) % (1 << 64)).to_bytes(8, "big")
        else:
            crypt = (lambda b: enc.update(b)) if enc else (lambda b: b)
            if etm:
                ct = pkt[:4] + crypt(pkt[4:])
                sealed = ct + mac_of(mac, mac_key, seq, ct)
            else:
                sealed = crypt(pkt) + mac_of(mac, mac_key, seq, pkt)
        out.append((seq, pkt, sealed))
    return cipher, mac or "-", key, iv, mac_key, out


def main():
    combos = []
    for c, (_, _, _, kind) in CIPHERS.items():
        if kind in ("chachapoly", "gcm"):
            combos.append((c, None))
        else:
            combos.append((c, "hmac-sha2-256"))
            combos.append((c, "hmac-sha2-256-etm@openssh.com"))
    for m in MACS:
        if ("aes128-ctr", m) not in combos:
            combos.append(("aes128-ctr", m))
    print("# Generated by gen_vectors.py; one vector per line:")
    print("# cipher mac key iv mac_key (seq plaintext_packet sealed)x3, hex, '-' for empty")
    for c, m in combos:
        cipher, mac, key, iv, mac_key, pkts = vector(c, m)
        h = lambda b: b.hex() or "-"
        fields = [cipher, mac, h(key), h(iv), h(mac_key)]
        for seq, pkt, sealed in pkts:
            fields += [str(seq), h(pkt), h(sealed)]
        print(" ".join(fields))


if __name__ == "__main__":
    main()
