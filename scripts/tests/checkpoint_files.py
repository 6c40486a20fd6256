"""Reading a checkpoint as docs/results-format.md says: its base, then its journal.

Shared by the plot and Slurm tests, which wait for a running mcpi to have saved some chunks.
"""

import struct

import h5py


def fnv1a64(data):
    """FNV-1a, 64 bits: the journal's checksums (docs/results-format.md)."""
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def saved_chunks(partial):
    """How many chunks the checkpoint `partial` holds, read as docs/results-format.md says:
    its base's /chunks, then the rows of the whole records of a journal bound to it."""
    with h5py.File(partial, "r") as f:
        rows = len(f["chunks"])
    with open(partial, "rb") as f:
        base = f.read()
    try:
        with open(partial + ".journal", "rb") as f:
            journal = f.read()
    except FileNotFoundError:
        return rows
    if (len(journal) < 32 or journal[:8] != b"MCPIJRNL"
            or struct.unpack_from("<QQ", journal, 16) != (fnv1a64(base), fnv1a64(journal[:24]))):
        return rows
    at = 32
    while len(journal) >= at + 16:
        length, checksum = struct.unpack_from("<QQ", journal, at)
        payload = journal[at + 16:at + 16 + length]
        if len(payload) < length or length < 16 or (length - 16) % 64:
            break
        if fnv1a64(journal[at:at + 8] + payload) != checksum:
            break
        rows += (length - 16) // 64
        at += 16 + length
    return rows
