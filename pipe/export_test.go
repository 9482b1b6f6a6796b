package pipe

import "net"

// NewNetConn wraps c as the connection Listen and Dial make, for the fuzz
// test of the wire decoder.
func NewNetConn(c net.Conn, max int) *NetConn { return newNetConn(c, max) }

// ParseHeader is the length-prefix decoder.
var ParseHeader = parseHeader

// AppendHeader is the length-prefix encoder.
var AppendHeader = appendHeader
