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
//
// A prestarted child (see Prestart) is started with
// envMarker=prestartMarker and one inherited descriptor instead:
//
//	fd 3   one end of a Unix stream socket pair. The child writes one
//	       byte, readyByte, once it has reached Main, and waits. The
//	       parent hands a function over by writing a 4-byte little-endian
//	       length and that many bytes of gob-encoded bootstrap, with the
//	       segments' descriptors attached (SCM_RIGHTS) to the first
//	       sendmsg, in the order of bootstrap.Segments. The child writes
//	       its gob-encoded result on the same socket, and reads on after
//	       the bootstrap: end of file means the parent died, or dropped
//	       the child before handing it anything.

const (
	envMarker      = "SHMKIT_PROCESS"
	wireVersion    = "1"
	prestartMarker = wireVersion + "-prestarted"
	readyByte      = 'R'
	maxRights      = 250     // descriptors a hand-over carries at most (Linux allows 253)
	maxBootstrap   = 1 << 30 // bytes of a handed-over bootstrap at most
	fdBoot         = 3
	fdResult       = 4
	fdSegments     = 5
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
