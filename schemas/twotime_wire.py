#!/usr/bin/env python3
"""Reference decoder of twotime's Kafka messages in pure Python (stdlib only).

Each message is Avro single-object encoding: C3 01, the 8-byte little-endian
CRC-64-AVRO fingerprint of the schema's Parsing Canonical Form, then the Avro
binary body.  This file is the executable form of the wire format for
downstream services; the C unit test test_codec runs it over bytes the C
encoder wrote (mode `dump`) and compares every value.

    python3 twotime_wire.py dump FILE   # FILE: u32-LE length + message, repeated
    python3 twotime_wire.py fingerprints
"""
import struct
import sys

CANONICAL = {
    "Interaction":
        '{"name":"io.twotime.Interaction","type":"record","fields":['
        '{"name":"user_id","type":"long"},{"name":"item_id","type":"long"},'
        '{"name":"event_time","type":"long"},'
        '{"name":"category","type":["null","int"]}]}',
    "UserEmbedding":
        '{"name":"io.twotime.UserEmbedding","type":"record","fields":['
        '{"name":"user_id","type":"long"},{"name":"embedding","type":"bytes"},'
        '{"name":"dim","type":"int"},{"name":"model_version","type":"long"},'
        '{"name":"cell","type":{"name":"io.twotime.Cell","type":"enum",'
        '"symbols":["ACTIVE","INACTIVE"]}},'
        '{"name":"interaction_count","type":"long"},'
        '{"name":"event_time","type":"long"},'
        '{"name":"input_partition","type":"int"},'
        '{"name":"input_offset","type":"long"}]}',
    "ModelRecord":
        '{"name":"io.twotime.ModelRecord","type":"record","fields":['
        '{"name":"kind","type":{"name":"io.twotime.ModelRecordKind",'
        '"type":"enum","symbols":["HEADER","DENSE","ITEMS","USERS","COMMIT"]}},'
        '{"name":"model_version","type":"long"},{"name":"seq","type":"int"},'
        '{"name":"payload","type":"bytes"},'
        '{"name":"payload_crc32c","type":"long"}]}',
}
CELLS = ["ACTIVE", "INACTIVE"]
KINDS = ["HEADER", "DENSE", "ITEMS", "USERS", "COMMIT"]


def fingerprint64(data):
    """CRC-64-AVRO, exactly as the Avro specification writes it."""
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for b in data:
        fp = (fp >> 8) ^ table[(fp ^ b) & 0xFF]
    return fp


FINGERPRINTS = {fingerprint64(c.encode()): name
                for name, c in CANONICAL.items()}


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


class Reader:
    def __init__(self, buf, pos):
        self.buf, self.pos = buf, pos

    def long(self):
        shift = value = 0
        while True:
            if self.pos >= len(self.buf) or shift > 63:
                raise ValueError("truncated or overlong varint")
            b = self.buf[self.pos]
            self.pos += 1
            value |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return (value >> 1) ^ -(value & 1)

    def bytes(self):
        n = self.long()
        if n < 0 or self.pos + n > len(self.buf):
            raise ValueError("bad bytes length %d" % n)
        self.pos += n
        return self.buf[self.pos - n:self.pos]


def open_message(buf):
    """Returns (schema name, Reader on the body); raises ValueError."""
    if len(buf) < 10 or buf[0:2] != b"\xc3\x01":
        raise ValueError("not Avro single-object encoding")
    (fp,) = struct.unpack_from("<Q", buf, 2)
    if fp not in FINGERPRINTS:
        raise ValueError("unknown schema fingerprint %016x" % fp)
    return FINGERPRINTS[fp], Reader(buf, 10)


def decode(buf):
    """Decodes one message into (schema name, dict)."""
    name, r = open_message(buf)
    if name == "Interaction":
        d = {"user_id": r.long(), "item_id": r.long(), "event_time": r.long()}
        branch = r.long()
        d["category"] = None if branch == 0 else r.long()
    elif name == "UserEmbedding":
        user_id, raw = r.long(), r.bytes()
        dim = r.long()
        if len(raw) != 4 * dim:
            raise ValueError("dim disagrees with embedding bytes")
        d = {"user_id": user_id,
             "embedding": struct.unpack("<%df" % dim, raw),
             "embedding_bits": struct.unpack("<%dI" % dim, raw),
             "dim": dim, "model_version": r.long(), "cell": CELLS[r.long()],
             "interaction_count": r.long(), "event_time": r.long(),
             "input_partition": r.long(), "input_offset": r.long()}
    else:
        d = {"kind": KINDS[r.long()], "model_version": r.long(),
             "seq": r.long(), "payload": r.bytes(),
             "payload_crc32c": r.long()}
        if crc32c(d["payload"]) != d["payload_crc32c"]:
            raise ValueError("payload CRC-32C mismatch")
    if r.pos != len(buf):
        raise ValueError("%d trailing bytes" % (len(buf) - r.pos))
    return name, d


def line(name, d):
    """The one-line text form test_codec compares with its own."""
    if name == "Interaction":
        cat = -1 if d["category"] is None else d["category"]
        return "Interaction user=%d item=%d ts=%d cat=%d" % (
            d["user_id"], d["item_id"], d["event_time"], cat)
    if name == "UserEmbedding":
        return ("UserEmbedding user=%d dim=%d ver=%d cell=%s count=%d ts=%d "
                "part=%d off=%d emb=%s" % (
                    d["user_id"], d["dim"], d["model_version"], d["cell"],
                    d["interaction_count"], d["event_time"],
                    d["input_partition"], d["input_offset"],
                    ",".join("%08x" % b for b in d["embedding_bits"])))
    return "ModelRecord kind=%s ver=%d seq=%d len=%d crc=%08x" % (
        d["kind"], d["model_version"], d["seq"], len(d["payload"]),
        d["payload_crc32c"])


def main(argv):
    if len(argv) == 2 and argv[1] == "fingerprints":
        for fp, name in sorted(FINGERPRINTS.items(), key=lambda x: x[1]):
            print("%s %016x" % (name, fp))
        return 0
    if len(argv) != 3 or argv[1] != "dump":
        sys.stderr.write(__doc__)
        return 2
    with open(argv[2], "rb") as f:
        data = f.read()
    pos = 0
    while pos < len(data):
        (n,) = struct.unpack_from("<I", data, pos)
        msg = data[pos + 4:pos + 4 + n]
        pos += 4 + n
        try:
            print(line(*decode(msg)))
        except (ValueError, IndexError) as e:
            print("error %s" % e)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
