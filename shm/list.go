package shm

import (
	"errors"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/shmkit/shmkit/internal/sys"
)

// Status describes one file with the segment prefix, as found by List.
type Status struct {
	Name    string    // with the prefix
	Size    int64     // of the file
	ModTime time.Time // of the file
	Info    Info      // valid when Err is nil
	InUse   bool      // some live process has it attached
	Err     error     // why it could not be opened as a segment
}

// List describes every file whose name has the segment prefix in the
// shared-memory directory, opening each to observe (taking no slot). A file
// that is not a valid segment is listed with Err set.
func List() ([]Status, error) {
	entries, err := os.ReadDir(sys.ShmDir())
	if err != nil {
		return nil, err
	}
	var out []Status
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), Prefix) || !e.Type().IsRegular() {
			continue
		}
		st := Status{Name: e.Name()}
		if fi, err := e.Info(); err == nil {
			st.Size, st.ModTime = fi.Size(), fi.ModTime()
		}
		s, err := Open(e.Name(), &Options{Observe: true, OpenWait: -1})
		if err != nil {
			st.Err = err
			out = append(out, st)
			continue
		}
		st.Info, st.Err = s.Info()
		if st.Err == nil {
			st.InUse, st.Err = s.InUse()
		}
		s.Close()
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// RemoveUnused removes the named segments that no live process has
// attached, and returns their names. A file that is not a valid segment is
// left alone, except one that has stayed not ready for longer than
// notReadyAge (its creator died setting it up). With dryRun it removes
// nothing and returns what it would remove.
//
// A segment that nobody has attached may still be wanted: a process may
// be about to open it by name. Run this when you know no such process
// will come, as shmkit gc does on request.
func RemoveUnused(notReadyAge time.Duration, dryRun bool) ([]string, error) {
	list, err := List()
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, st := range list {
		switch {
		case st.Err == nil && !st.InUse:
		case errors.Is(st.Err, ErrNotReady) && time.Since(st.ModTime) > notReadyAge:
		default:
			continue
		}
		if !dryRun {
			if err := Remove(st.Name); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		removed = append(removed, st.Name)
	}
	return removed, errors.Join(errs...)
}
