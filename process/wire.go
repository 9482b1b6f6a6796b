package process

// The protocol between parent and child. The parent passes, as inherited
// descriptors:
//
//	fd 3   bootstrap pipe, read end. The parent writes one gob-encoded
//	       bootstrap and keeps its end open while the child lives: the
//	       child reads on, and end of file means the parent died.
//	fd 4   result pipe, write end. The child writes at most one
//	       gob-encoded result before it exits.
//	fd 5…  one descriptor per segment, in the order of bootstrap.Segments.
//
// The environment carries only envMarker=wireVersion, never arguments.

const (
	envMarker   = "SHMKIT_PROCESS"
	wireVersion = "1"
	fdBoot      = 3
	fdResult    = 4
	fdSegments  = 5
)

type bootstrap struct {
	Func      string
	Name      string
	ParentPid int
	Segments  []uint64 // segment ids, in descriptor order from fdSegments
	Arg       []byte   // gob encoding of the argument
}

// Result codes, which decide the exit status.
const (
	resultOK            = 0
	resultError         = 1
	resultPanic         = 2
	resultNotRegistered = 3
	resultArgument      = 4
	resultBootstrap     = 5
)

type result struct {
	Code    int
	Message string
	Stack   string
}

// exitStatus is the status a child exits with for each result code.
func exitStatus(code int) int {
	switch code {
	case resultOK:
		return 0
	case resultPanic:
		return 2
	}
	return 1
}
