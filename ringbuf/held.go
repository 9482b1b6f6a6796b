package ringbuf

// held counts the records between free and tail that hold a bounded
// queue's place: CLAIMED, COMMITTED and READING ones (a message being
// written, waiting, or being read). DONE and SKIP records and padding hold
// none.
//
// The caller keeps claims from being made while it counts (a bounded
// queue's place lock: every claim on a queue's ring is made under it), so
// the records it walks are not overwritten. Their states change under it,
// but only from one that holds a place to one that holds a place or none
// (CLAIMED → COMMITTED → READING → DONE, CLAIMED(dead) → SKIP), so the
// count is never below what the ring held when the walk ended: a Put that
// trusts it never puts more than MaxSize messages in flight.
func (r *Ring) held() (int, error) {
	if r.closed.Load() {
		return 0, ErrClosed
	}
	f := r.free.Load()
	t := r.tail.Load()
	if t < f || t-f > r.capacity || f%8 != 0 || t%8 != 0 {
		return 0, corrupt("cursors free %d, tail %d", f, t)
	}
	n := 0
	for p := f; p < t; {
		w := r.hdr(p).Load()
		st := hdrState(w)
		size := recordSize(hdrLen(w))
		if (p&r.mask)+size > r.capacity || p+size > t || w>>63 != 0 || st == stFree || st > stSkip {
			return 0, corrupt("record at %d: header %#x, free %d, tail %d", p, w, f, t)
		}
		if st == stClaimed || st == stCommitted || st == stReading {
			n++
		}
		p += size
	}
	return n, nil
}

// committedAt reports whether the record at position pos was committed:
// it is COMMITTED, READING or DONE. The caller knows that no claim has
// reused pos since the record was claimed (a joinable queue's place lock).
func (r *Ring) committedAt(pos uint64) bool {
	switch hdrState(r.hdr(pos &^ 7).Load()) {
	case stCommitted, stReading, stDone:
		return true
	}
	return false
}
