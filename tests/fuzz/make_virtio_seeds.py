#!/usr/bin/env python3
"""Writes the seeds of fuzz_virtio_mmio and fuzz_virtio_pci: operation
sequences (tests/fuzz/fuzz_virtio_transport.c, enum op) that bring each
device up properly and run a few requests through it, so the fuzzer starts
from inputs that reach the devices' request paths. Run from the repository
root: python3 tests/fuzz/make_virtio_seeds.py"""
import os
import struct

(REG_WRITE, REG_READ, MEM_WRITE, BRING_UP, OFFER_CHAIN, KICK, IO_TURN, RESET, QUEUE_RESET, NET_INPUT,
 CONSOLE_INPUT, WINDOW_WRITE, WINDOW_READ, CFG_WRITE, CFG_READ, BAR_MOVE, MSIX) = range(17)
BLK, RNG, CONSOLE, NET, VSOCK = range(5)
CHAIN_ANY, CHAIN_BLK, CHAIN_NET_TX, CHAIN_WRITABLE, CHAIN_VSOCK_TX = range(5)
VSOCK_REQUEST, VSOCK_RESPONSE, VSOCK_RST, VSOCK_SHUTDOWN, VSOCK_RW, VSOCK_CREDIT_UPDATE, VSOCK_CREDIT_REQUEST = range(1, 8)
BLK_TYPES = {"in": 0, "out": 1, "flush": 2, "get_id": 3, "discard": 4, "write_zeroes": 5}
NOTIFY, INDIRECT = 2, 1
EVENT_IDX_AND_INDIRECT = (1 << 28) | (1 << 29)


def op(code, dev, *args):
    return bytes([code, dev]) + b"".join(args)


u8 = lambda v: struct.pack("<B", v)
u16 = lambda v: struct.pack("<H", v)
u32 = lambda v: struct.pack("<I", v)


def bring_up(dev, queues, features=0xFFFFFFFF, flags=0, qsize_log2=7):
    return op(BRING_UP, dev, u32(features), u32(0xFFFFFFFF), u8(flags), bytes([qsize_log2] * queues))


def blk_request(kind, sectors=8, sector=0, flags=NOTIFY):
    return op(OFFER_CHAIN, BLK, u8(0), u8(CHAIN_BLK), u8(flags), u8(BLK_TYPES[kind]), u8(sectors), u16(sector))


def writable(dev, q, lens, flags=NOTIFY):
    return op(OFFER_CHAIN, dev, u8(q), u8(CHAIN_WRITABLE), u8(flags), u8(len(lens) - 1), *[u16(l - 1) for l in lens])


def readable(dev, q, data, flags=NOTIFY):
    """A one-buffer chain of up to 16 bytes of data (console output)."""
    return op(OFFER_CHAIN, dev, u8(q), u8(CHAIN_ANY), u8(flags), u8(0), u16(len(data)), data.ljust(16, b"\0"))


def net_tx(frame_len, flags=NOTIFY):
    return op(OFFER_CHAIN, NET, u8(1), u8(CHAIN_NET_TX), u8(flags), u16(frame_len - 14), bytes(16))


def net_input(length, start=b""):
    """A packet of `length` bytes from the host; the harness takes its first
    64 (at most) from the input, the rest is zeros."""
    return op(NET_INPUT, NET, u16(length), start.ljust(min(length, 64), b"\0"))


def vsock_tx(vop, src_port=5000, payload=0, flags=0, buf_alloc=65536, fwd_cnt=0):
    """A packet from CID 3 to the host's port 52 (the harness listens there)."""
    return op(OFFER_CHAIN, VSOCK, u8(1), u8(CHAIN_VSOCK_TX), u8(NOTIFY), u16(payload), u8(0), u16(src_port),
              u8(vop), u8(flags), u32(buf_alloc), u32(fwd_cnt))


def turns(dev, n=3):
    return b"".join(op(IO_TURN, dev, u8(1)) for _ in range(n))


def kick(dev, q):
    return op(KICK, dev, u8(q))


SEEDS = {
    "blk-requests": bring_up(BLK, 1, features=0) + blk_request("out", 4, 10) + blk_request("in", 8, 10)
    + blk_request("flush", 0) + blk_request("get_id", 1) + blk_request("discard", 0, 64)
    + blk_request("write_zeroes", 0, 128) + turns(BLK) + kick(BLK, 0) + turns(BLK),
    "blk-indirect-event-idx": bring_up(BLK, 1, features=EVENT_IDX_AND_INDIRECT, qsize_log2=4)
    + b"".join(blk_request("in", 2, i, NOTIFY | INDIRECT) for i in range(6)) + turns(BLK) + kick(BLK, 0),
    "blk-reset-in-flight": bring_up(BLK, 1, flags=1) + blk_request("out", 8, 0) + blk_request("flush", 0)
    + kick(BLK, 0) + op(QUEUE_RESET, BLK, u8(0)) + turns(BLK, 2) + bring_up(BLK, 1) + blk_request("in", 8, 0) + turns(BLK)
    + op(RESET, BLK),
    "rng": bring_up(RNG, 1) + writable(RNG, 0, [16, 64]) + writable(RNG, 0, [4096]) + kick(RNG, 0) + turns(RNG, 1),
    "console": bring_up(CONSOLE, 2) + readable(CONSOLE, 1, b"hello, console\n") + kick(CONSOLE, 1)
    + writable(CONSOLE, 0, [32]) + op(CONSOLE_INPUT, CONSOLE, u8(5), b"input") + turns(CONSOLE, 1),
    "net-mergeable": bring_up(NET, 2, features=(1 << 15) | (1 << 16) | (1 << 5))
    + writable(NET, 0, [1526]) + writable(NET, 0, [64, 64]) + kick(NET, 0)
    + net_input(100, bytes(12) + b"\xff" * 6 + b"\x02" * 6 + b"\x08\x00")
    + kick(NET, 0) + turns(NET, 1) + net_tx(60) + kick(NET, 1) + turns(NET, 1),
    "net-plain": bring_up(NET, 2, features=1 << 28) + writable(NET, 0, [2048]) + net_input(1500)
    + turns(NET, 2) + net_tx(1514) + net_tx(60, NOTIFY | INDIRECT) + turns(NET, 2),
    "vsock-connect-rw-close": bring_up(VSOCK, 3) + writable(VSOCK, 0, [4096]) + writable(VSOCK, 0, [4096])
    + writable(VSOCK, 2, [8]) + kick(VSOCK, 2) + vsock_tx(VSOCK_REQUEST) + turns(VSOCK, 1) + vsock_tx(VSOCK_RW, payload=100)
    + vsock_tx(VSOCK_CREDIT_REQUEST) + writable(VSOCK, 0, [4096]) + kick(VSOCK, 0) + turns(VSOCK, 2)
    + vsock_tx(VSOCK_SHUTDOWN, flags=3) + turns(VSOCK, 2) + vsock_tx(VSOCK_RW, src_port=7, payload=10) + turns(VSOCK, 1),
    # virtio-pci: MSI-X on, the BAR moved and sized, config space read (no-ops over MMIO).
    "pci-msix-bar-move": bring_up(RNG, 1, flags=2) + op(BAR_MOVE, RNG, u8(3), u16(0x20))
    + writable(RNG, 0, [64]) + kick(RNG, 0) + op(CFG_READ, 0, u8(2), u8(0x34), u8(2))
    + op(MSIX, RNG, u8(0)) + writable(RNG, 0, [64]) + kick(RNG, 0),
    "pci-bar-over-another": bring_up(BLK, 1) + op(BAR_MOVE, RNG, u8(0), u16(0)) + blk_request("get_id", 1)
    + turns(BLK, 1) + op(BAR_MOVE, RNG, u8(0), u16(0x30)),
}

for harness in ("fuzz_virtio_mmio", "fuzz_virtio_pci"):
    d = os.path.join("tests/fuzz", "seeds-" + harness)
    os.makedirs(d, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
