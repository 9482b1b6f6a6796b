//go:build unix

package process

import (
	"bytes"
	"encoding/binary"
	"syscall"
	"testing"
)

// FuzzReceiveHandOver feeds a prestarted child's reader arbitrary bytes
// through a real socket: it returns a bootstrap only when the length
// prefix matches what came, and never panics or hangs (the writer closes
// its end).
func FuzzReceiveHandOver(f *testing.F) {
	ok := binary.LittleEndian.AppendUint32(nil, 5)
	f.Add(append(ok, "hello"...))
	f.Add([]byte{})
	f.Add([]byte{1, 2})
	f.Add(binary.LittleEndian.AppendUint32(nil, 1<<31))
	f.Add(append(binary.LittleEndian.AppendUint32(nil, 2), "toolong"...))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 32<<10 {
			return
		}
		fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer syscall.Close(fds[0])
		if len(data) > 0 {
			if _, err := syscall.Write(fds[1], data); err != nil {
				t.Fatal(err)
			}
		}
		syscall.Close(fds[1])
		msg, files, err := receiveHandOver(fds[0])
		if len(files) != 0 {
			t.Fatalf("%d descriptors from plain bytes", len(files))
		}
		wellFormed := len(data) >= 4 && int(binary.LittleEndian.Uint32(data)) == len(data)-4
		if (err == nil) != wellFormed {
			t.Fatalf("receiveHandOver(%x) = %x, %v", data, msg, err)
		}
		if err == nil && !bytes.Equal(msg, data[4:]) {
			t.Fatalf("receiveHandOver(%x) = %x", data, msg)
		}
	})
}
