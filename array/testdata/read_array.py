"""Attach to a shmkit segment with Python's shared_memory, find a float64
array by name by walking the layout of docs/layout.md, print the sum of its
elements, and write -i into its first ten elements."""
import struct
import sys
from multiprocessing import resource_tracker, shared_memory

seg_name, obj_name = sys.argv[1], sys.argv[2].encode()
shm = shared_memory.SharedMemory(name=seg_name)
# Before 3.13, attaching registers the segment with the resource tracker,
# which would remove it when this process exits (gh-82300).
resource_tracker.unregister(shm._name, "shared_memory")
buf = shm.buf
try:
    assert bytes(buf[0:8]) == b"shmkitSG", "not a shmkit segment"
    version, ready = struct.unpack_from("<II", buf, 8)
    assert version == 1 and ready == 0x59444552, (version, ready)
    data_off, cursor = struct.unpack_from("<QQ", buf, 56)
    off = data_off
    while off < cursor:
        assert bytes(buf[off:off + 4]) == b"SOBJ", off
        kind, _version, name_len, elem_size = struct.unpack_from("<IHHI", buf, off + 4)
        total, payload_off, _payload_size, _type_hash = struct.unpack_from("<QQQQ", buf, off + 16)
        name = bytes(buf[off + 64:off + 64 + name_len])
        if name == obj_name:
            assert kind == 10 and elem_size == 8, (kind, elem_size)  # KindArray of float64
            p = off + payload_off
            _lock, n = struct.unpack_from("<QQ", buf, p)
            elems = p + 64
            print(repr(sum(struct.unpack_from("<%dd" % n, buf, elems))))
            for i in range(10):
                struct.pack_into("<d", buf, elems + 8 * i, -float(i))
            break
        off += total
    else:
        sys.exit("no object named %r" % obj_name)
finally:
    del buf
    shm.close()
