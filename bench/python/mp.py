"""Python's multiprocessing, measured the way package bench measures shmkit.

Run by `shmkit bench` as `python3 mp.py`, once per run: it reads commands,
one a line, "MODE JSON-ARGS", from stdin, and for each prints one JSON object
a line, one per row, then {"done": MODE}:

  {"transport": "python Pipe", "size": 16, "samples_ns": [...]}           latency
  {"transport": "python Queue", "size": 64, "count": N, "seconds": S}     throughput
  {"transport": "python Lock", "procs": "2", "count": N, "seconds": S}    rate
  {"transport": "python Pool", "op": "map", "procs": "2", "count": N, "seconds": S}  tasks
  {"transport": "...", "error": "..."}                                      a failure

Messages are bytes of the row's size; the receiver gets every byte (Pipe's
recv_bytes and Queue's get copy them). Percentiles are computed by the Go
side from the samples.
"""

import json
import multiprocessing as mp
import struct
import sys
import time

MAX_SAMPLES = 200000


def out(**row):
    print(json.dumps(row), flush=True)


def payload(size):
    return bytes((i * 7 + 1) & 0xFF for i in range(size))


# ping-pong

def echo_pipe(conn):
    while True:
        m = conn.recv_bytes()
        if not m:
            return
        conn.send_bytes(m)


def echo_queue(qin, qout):
    while True:
        m = qin.get()
        if m is None:
            return
        qout.put(m)


def pingpong(a):
    for size in a["sizes"]:
        msg = payload(size)
        here, there = mp.Pipe()
        p = mp.Process(target=echo_pipe, args=(there,))
        p.start()
        out(transport="python Pipe", size=size, samples_ns=rounds(
            a, lambda: (here.send_bytes(msg), here.recv_bytes())))
        here.send_bytes(b"")
        p.join()
        qin, qout = mp.Queue(), mp.Queue()
        p = mp.Process(target=echo_queue, args=(qin, qout))
        p.start()
        out(transport="python Queue", size=size, samples_ns=rounds(
            a, lambda: (qin.put(msg), qout.get())))
        qin.put(None)
        p.join()


def rounds(a, once):
    for _ in range(3):
        once()
    samples = []
    end = time.perf_counter() + a["duration"]
    while len(samples) < 5 or (time.perf_counter() < end and len(samples) < MAX_SAMPLES):
        t0 = time.perf_counter_ns()
        once()
        samples.append(max(1, time.perf_counter_ns() - t0))
    return samples


# stream

def sink_pipe(conn):
    conn.send_bytes(b"ready")
    n = 0
    while True:
        m = conn.recv_bytes()
        if not m:
            conn.send_bytes(struct.pack("<q", n))
            return
        n += 1


def sink_queue(q, res, ready=None):
    (ready or res).put("ready")
    n = 0
    while True:
        m = q.get()
        if m is None:
            res.put(n)
            return
        n += 1


def stream(a):
    for size in a["sizes"]:
        msg = payload(size)
        here, there = mp.Pipe()
        p = mp.Process(target=sink_pipe, args=(there,))
        p.start()
        here.recv_bytes()  # the child is running
        n, t0 = 0, time.perf_counter()
        end = t0 + a["duration"]
        while n < 5 or time.perf_counter() < end:
            for _ in range(16):
                here.send_bytes(msg)
            n += 16
        here.send_bytes(b"")
        got = struct.unpack("<q", here.recv_bytes())[0]
        secs = time.perf_counter() - t0
        p.join()
        row("python Pipe", size, n, got, secs)
        q, res = mp.Queue(bound(size)), mp.Queue()
        p = mp.Process(target=sink_queue, args=(q, res))
        p.start()
        res.get()  # the child is running
        n, t0 = 0, time.perf_counter()
        end = t0 + a["duration"]
        while n < 5 or time.perf_counter() < end:
            for _ in range(16):
                q.put(msg)
            n += 16
        q.put(None)
        got = res.get()
        secs = time.perf_counter() - t0
        p.join()
        row("python Queue", size, n, got, secs)


def bound(size):
    """A queue's maxsize: about the 256 KiB the Go side's rings hold, so a
    producer waits for the consumer instead of buffering without end."""
    return max(4, (256 << 10) // size)


def row(name, size, sent, got, secs, procs=None):
    if sent != got:
        out(transport=name, size=size, error="sent %d, received %d" % (sent, got))
    elif procs:
        out(transport=name, size=size, procs=procs, count=sent, seconds=secs)
    else:
        out(transport=name, size=size, count=sent, seconds=secs)


# N producers x M consumers

def producer(q, go, stop, res, msg, ready):
    ready.put("ready")
    go.wait()
    n = 0
    while n == 0 or not stop.is_set():  # at least one round, however late
        for _ in range(16):
            q.put(msg)
        n += 16
    # Flush this producer's messages into the pipe before counting them, so
    # the parent's stop markers come after them.
    q.close()
    q.join_thread()
    res.put(n)


def nxm(a):
    size, np_, nc = a["msize"], a["producers"], a["consumers"]
    msg = payload(size)
    q, pres, cres, ready = mp.Queue(bound(size)), mp.Queue(), mp.Queue(), mp.Queue()
    go, stop = mp.Event(), mp.Event()
    ps = [mp.Process(target=producer, args=(q, go, stop, pres, msg, ready)) for _ in range(np_)]
    cs = [mp.Process(target=sink_queue, args=(q, cres, ready)) for _ in range(nc)]
    for p in ps + cs:
        p.start()
    for _ in ps + cs:
        ready.get()
    t0 = time.perf_counter()
    go.set()
    time.sleep(a["duration"])
    stop.set()
    sent = sum(pres.get() for _ in ps)
    for _ in cs:
        q.put(None)
    got = sum(cres.get() for _ in cs)
    secs = time.perf_counter() - t0
    for p in ps + cs:
        p.join()
    row("python Queue", size, sent, got, secs, "%d×%d" % (np_, nc))


# wake-up

def source_event(ev, ack, ts, n, idle):
    for _ in range(n):
        time.sleep(idle)
        ts.value = time.time_ns()
        ev.set()
        ack.wait()
        ack.clear()


def source_pipe(conn, n, idle):
    for _ in range(n):
        time.sleep(idle)
        conn.send_bytes(struct.pack("<q", time.time_ns()) + bytes(56))


def source_queue(q, n, idle):
    for _ in range(n):
        time.sleep(idle)
        q.put(struct.pack("<q", time.time_ns()) + bytes(56))


def wakeup(a):
    n, idle, warm = a["samples"], a["idle"], 3
    ev, ack, ts = mp.Event(), mp.Event(), mp.RawValue("q", 0)
    p = mp.Process(target=source_event, args=(ev, ack, ts, n + warm, idle))
    p.start()
    samples = []
    for i in range(n + warm):
        ev.wait()
        lat = time.time_ns() - ts.value
        ev.clear()
        ack.set()
        if i >= warm:
            samples.append(max(1, lat))
    p.join()
    out(transport="python Event", size=64, samples_ns=samples)

    here, there = mp.Pipe()
    p = mp.Process(target=source_pipe, args=(there, n + warm, idle))
    p.start()
    samples = []
    for i in range(n + warm):
        m = here.recv_bytes()
        lat = time.time_ns() - struct.unpack("<q", m[:8])[0]
        if i >= warm:
            samples.append(max(1, lat))
    p.join()
    out(transport="python Pipe", size=64, samples_ns=samples)

    q = mp.Queue()
    p = mp.Process(target=source_queue, args=(q, n + warm, idle))
    p.start()
    samples = []
    for i in range(n + warm):
        m = q.get()
        lat = time.time_ns() - struct.unpack("<q", m[:8])[0]
        if i >= warm:
            samples.append(max(1, lat))
    p.join()
    out(transport="python Queue", size=64, samples_ns=samples)


# contended lock

def locker(lock, v, go, stop, res, ready):
    ready.put("ready")
    go.wait()
    n = 0
    while n == 0 or not stop.is_set():  # at least one round, however late
        for _ in range(16):
            with lock:
                v.value += 1
        n += 16
    res.put(n)


def lock(a):
    np_ = a["lockers"]
    for name in ("python Lock", "python Value"):
        if name == "python Lock":
            lk, v = mp.Lock(), mp.RawValue("q", 0)
        else:
            v = mp.Value("q", 0)
            lk = v.get_lock()
        go, stop, res, ready = mp.Event(), mp.Event(), mp.Queue(), mp.Queue()
        ps = [mp.Process(target=locker, args=(lk, v, go, stop, res, ready)) for _ in range(np_)]
        for p in ps:
            p.start()
        for _ in ps:
            ready.get()
        t0 = time.perf_counter()
        go.set()
        time.sleep(a["duration"])
        stop.set()
        ops = sum(res.get() for _ in ps)
        secs = time.perf_counter() - t0
        for p in ps:
            p.join()
        if ops != v.value:
            out(transport=name, procs=str(np_), error="%d operations, counter %d" % (ops, v.value))
        else:
            out(transport=name, procs=str(np_), count=ops, seconds=secs)


# worker pool

MIN_CALLS = 3  # the Go side's poolCalls


def square(x):
    return x * x


def pool(a):
    """Pool(workers).map of square over range(tasks), after a map of 10 to
    bring the workers up, timed call by call until the duration has passed
    (at least MIN_CALLS); then Pool(workers) started, closed and joined, the
    same way. Every result is checked, outside the timed part."""
    n, w = a["tasks"], a["workers"]
    procs = str(w)
    items = list(range(n))
    want = [square(x) for x in items]
    with mp.Pool(w) as p:
        p.map(square, range(10))
        busy, calls = 0.0, 0
        end = time.perf_counter() + a["duration"]
        while calls < MIN_CALLS or time.perf_counter() < end:
            t0 = time.perf_counter()
            got = p.map(square, items)
            busy += time.perf_counter() - t0
            calls += 1
            if got != want:
                out(transport="python Pool", op="map", procs=procs, error="wrong results")
                break
        else:
            out(transport="python Pool", op="map", procs=procs, count=calls * n, seconds=busy)
    busy, calls = 0.0, 0
    end = time.perf_counter() + a["duration"]
    while calls < MIN_CALLS or time.perf_counter() < end:
        t0 = time.perf_counter()
        p = mp.Pool(w)
        p.close()
        p.join()
        busy += time.perf_counter() - t0
        calls += 1
    out(transport="python Pool", op="start+stop", procs=procs, count=calls, seconds=busy)


MODES = {"pingpong": pingpong, "stream": stream, "nxm": nxm, "wakeup": wakeup, "lock": lock, "pool": pool}

def main():
    try:
        mp.set_start_method("fork")
    except (ValueError, RuntimeError):
        pass
    if len(sys.argv) == 3:
        MODES[sys.argv[1]](json.loads(sys.argv[2]))
        return
    for line in sys.stdin:
        mode, _, args = line.strip().partition(" ")
        try:
            MODES[mode](json.loads(args))
        except Exception as e:  # a failed mode is a row saying so
            out(transport="python " + mode, error="%s: %s" % (type(e).__name__, e))
        print(json.dumps({"done": mode}), flush=True)


if __name__ == "__main__":
    main()
