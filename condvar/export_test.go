package condvar

// Waiting reports the waiters of c counted in shared memory and not yet
// notified, and the notifications given to their processes and not yet
// handed to them.
func (c *Cond) Waiting() (waiting, inFlight int) { return c.waiting() }

// Waiting is Cond.Waiting.
func (c *RCond) Waiting() (waiting, inFlight int) { return c.waiting() }

// Asleep is the number of parties counted asleep in b's records.
func (br *Barrier) Asleep() int {
	n := 0
	for _, w := range br.asleep {
		n += int(uint32(w.Load()))
	}
	return n
}
