// Command shmkit measures how processes talk on this machine, lists,
// inspects and removes shmkit's shared-memory segments, and runs the demo.
//
//	shmkit bench [flags]      shmkit's transports beside floors, kernel IPC and Python
//	shmkit ls                 segments in /dev/shm: name, size, creator, whether in use
//	shmkit inspect NAME       header, process table and objects of one segment
//	shmkit rm NAME...         remove segments by name (Python's unlink)
//	shmkit gc [-n]            remove segments that no live process has attached
//	shmkit demo [-workers N]  workers in child processes sharing a segment
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/shmkit/shmkit/process"
	"github.com/shmkit/shmkit/shm"
)

func main() {
	process.Main()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: shmkit <command> [arguments]

commands:
  bench [flags]      measure shmkit's transports beside floors, kernel IPC and Python (-h for flags)
  ls                 list segments: name, size, creator, whether in use
  inspect NAME       show a segment's header, process table and objects
  rm NAME...         remove segments by name
  gc [-n]            remove segments no live process has attached (-n: only say which)
  demo [-workers N]  start workers in child processes that share a segment
`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, args := args[0], args[1:]
	var err error
	switch cmd {
	case "bench":
		err = benchCmd(args, stdout, stderr)
	case "ls":
		err = ls(args, stdout)
	case "inspect":
		err = inspect(args, stdout)
	case "rm":
		err = rm(args, stdout)
	case "gc":
		err = gc(args, stdout)
	case "demo":
		err = demo(args, stdout)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "shmkit: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if errors.Is(err, errUsage) {
		fmt.Fprintf(stderr, "shmkit %s: %v\n", cmd, err)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "shmkit %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

var errUsage = errors.New("usage")

func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("shmkit "+name, flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	return fs
}

func ls(args []string, w io.Writer) error {
	if err := newFlags("ls").Parse(args); err != nil {
		return err
	}
	list, err := shm.List()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSIZE\tCREATOR\tCREATED\tOBJECTS\tPROCESSES\tSTATE")
	for _, st := range list {
		if st.Err != nil {
			fmt.Fprintf(tw, "%s\t%s\t-\t%s\t-\t-\t%v\n", st.Name, bytesize(st.Size), st.ModTime.Format(time.DateTime), st.Err)
			continue
		}
		live := 0
		for _, p := range st.Info.Processes {
			if p.Alive {
				live++
			}
		}
		state := "unused"
		if st.InUse {
			state = "in use"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%d alive\t%s\n", st.Name, bytesize(int64(st.Info.Size)), st.Info.CreatorPid,
			st.Info.Created.Format(time.DateTime), st.Info.Objects, live, state)
	}
	return tw.Flush()
}

func inspect(args []string, w io.Writer) error {
	fs := newFlags("inspect")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: shmkit inspect NAME", errUsage)
	}
	s, err := shm.Open(fs.Arg(0), &shm.Options{Observe: true, OpenWait: -1})
	if err != nil {
		return err
	}
	defer s.Close()
	in, err := s.Info()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "segment  %s\nid       %016x\nsize     %s (%d bytes), %s used\ncreated  %s by pid %d\nslots    %d\n",
		in.Name, in.ID, bytesize(int64(in.Size)), in.Size, bytesize(int64(in.Used)), in.Created.Format(time.RFC3339), in.CreatorPid, in.Slots)
	fmt.Fprintln(w, "\nprocesses:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  SLOT\tGEN\tPID\tATTACHED\tSTATE")
	for _, p := range in.Processes {
		state := "dead"
		switch {
		case p.Alive:
			state = "alive"
		case p.State == 2:
			state = "detached"
		}
		fmt.Fprintf(tw, "  %d\t%d\t%d\t%s\t%s\n", p.Slot, p.Gen, p.Pid, p.Attached.Format(time.RFC3339), state)
	}
	tw.Flush()
	objs, err := s.Objects()
	fmt.Fprintln(w, "\nobjects:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  OFFSET\tKIND\tVERSION\tSIZE\tELEM\tTYPE HASH\tNAME")
	for _, o := range objs {
		fmt.Fprintf(tw, "  %d\t%v\t%d\t%d\t%d\t%016x\t%q\n", o.Offset, o.Kind, o.Version, o.Size, o.ElemSize, o.TypeHash, o.Name)
	}
	tw.Flush()
	return err
}

func rm(args []string, w io.Writer) error {
	fs := newFlags("rm")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("%w: shmkit rm NAME...", errUsage)
	}
	var errs []error
	for _, name := range fs.Args() {
		if err := shm.Remove(name); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintln(w, "removed", name)
	}
	return errors.Join(errs...)
}

func gc(args []string, w io.Writer) error {
	fs := newFlags("gc")
	dry := fs.Bool("n", false, "only list what would be removed")
	age := fs.Duration("not-ready-age", time.Minute, "remove a segment left not ready by its creator after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("%w: shmkit gc [-n] [-not-ready-age D]", errUsage)
	}
	removed, err := shm.RemoveUnused(*age, *dry)
	verb := "removed"
	if *dry {
		verb = "would remove"
	}
	for _, name := range removed {
		fmt.Fprintln(w, verb, name)
	}
	return err
}

func bytesize(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dG", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dM", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dK", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}
