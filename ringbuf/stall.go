package ringbuf

import (
	"sync"
	"time"
)

// stall keeps, for the waiters of one process, since when a cursor (head
// for takes, free for claims) has not moved, across calls. The checks for
// dead peers come after a poll interval of waiting; a clock per call would
// never get there for a caller that waits in short calls (a context with a
// short deadline, TryTake or TryClaim in a loop), and such a caller would
// wait for ever behind a dead producer's claim or a dead consumer's record.
//
// The zero stall is ready to use. Any goroutine of the process may use it.
type stall struct {
	mu    sync.Mutex
	pos   uint64
	since time.Time
}

// due reports whether the cursor, now at pos, has stood still for at least
// d as this process's waiters saw it. When it has, the clock starts again,
// so that the next check is due d later.
func (s *stall) due(pos uint64, d time.Duration) bool {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.since.IsZero() || s.pos != pos {
		s.pos, s.since = pos, now
		return false
	}
	if now.Sub(s.since) < d {
		return false
	}
	s.since = now
	return true
}
