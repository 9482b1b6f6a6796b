package pipe_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/layout"
	"github.com/shmkit/shmkit/pipe"
	"github.com/shmkit/shmkit/shm"
)

// FuzzParseHeader: the length-prefix decoder never panics, never returns
// a length above the limit, and reads back what the encoder wrote.
func FuzzParseHeader(f *testing.F) {
	f.Add([]byte{0, 0, 0, 5}, 10)
	f.Add([]byte{0x40, 0, 0, 0}, 1<<20)                                  // 1 GiB
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 0, 0, 0, 0}, 1<<40) // long form, 4 GiB
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 1}, 1<<40) // long form, too small
	f.Add([]byte{0x80, 0, 0, 0}, 10)                                     // negative
	f.Add([]byte{0xff, 0xff}, 10)
	f.Fuzz(func(t *testing.T, b []byte, max int) {
		if max < 0 {
			max = -max
		}
		n, hdr, need, err := pipe.ParseHeader(b, max)
		switch {
		case err != nil:
			if n != 0 || hdr != 0 {
				t.Fatalf("error %v with n %d, hdr %d", err, n, hdr)
			}
		case need > 0:
			if need <= len(b) || need > 12 {
				t.Fatalf("need %d with %d bytes", need, len(b))
			}
		default:
			if n < 0 || n > max || (hdr != 4 && hdr != 12) || hdr > len(b) {
				t.Fatalf("n %d, hdr %d, max %d, %d bytes", n, hdr, max, len(b))
			}
			if enc := pipe.AppendHeader(nil, n); !bytes.Equal(enc, b[:hdr]) {
				t.Fatalf("header %x re-encodes as %x", b[:hdr], enc)
			}
		}
	})
}

// bytesConn is a net.Conn that reads from a fixed stream and discards
// writes.
type bytesConn struct {
	net.Conn
	r io.Reader
}

func (c *bytesConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *bytesConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *bytesConn) Close() error                     { return nil }
func (c *bytesConn) SetReadDeadline(time.Time) error  { return nil }
func (c *bytesConn) SetWriteDeadline(time.Time) error { return nil }
func (c *bytesConn) LocalAddr() net.Addr              { return nil }
func (c *bytesConn) RemoteAddr() net.Addr             { return nil }
func (c *bytesConn) SetDeadline(t time.Time) error    { return nil }

// FuzzNetConnRecv: a socket connection fed arbitrary bytes returns whole
// messages within its limit, then an error; never a panic, never more bytes
// than it was given.
func FuzzNetConnRecv(f *testing.F) {
	frame := func(msgs ...string) []byte {
		var b []byte
		for _, m := range msgs {
			b = binary.BigEndian.AppendUint32(b, uint32(len(m)))
			b = append(b, m...)
		}
		return b
	}
	f.Add(frame("hello", "", "world"), 8)
	f.Add(frame("#CHALLENGE#{sha256}0123456789"), 256)
	f.Add(append(frame("a"), 0x40, 0, 0, 0), 1<<20)
	f.Add([]byte{0, 0, 0, 9, 'x'}, 100)
	f.Fuzz(func(t *testing.T, stream []byte, max int) {
		max = max&0xffff + 1
		c := pipe.NewNetConn(&bytesConn{r: bytes.NewReader(stream)}, max)
		total := 0
		ctx := context.Background()
		buf := make([]byte, 7)
		for i := 0; ; i++ {
			var m []byte
			var err error
			if i%2 == 0 {
				m, err = c.RecvBytes(ctx)
			} else {
				var n int
				n, err = c.RecvBytesInto(ctx, buf)
				if errors.Is(err, pipe.ErrBufferTooShort) {
					m, err = c.RecvBytes(ctx)
				} else {
					m = buf[:n]
				}
			}
			if err != nil {
				break
			}
			if len(m) > max {
				t.Fatalf("a message of %d bytes, limit %d", len(m), max)
			}
			total += 4 + len(m)
			if total > len(stream) {
				t.Fatalf("%d bytes of messages from a stream of %d", total, len(stream))
			}
		}
	})
}

// FuzzOpen: a pipe control object holding arbitrary words opens with an
// error or as a working end, never a panic.
func FuzzOpen(f *testing.F) {
	f.Add(make([]byte, 64), 0)
	f.Add(append(binary.LittleEndian.AppendUint64(nil, 1<<30), make([]byte, 56)...), 1)
	f.Fuzz(func(t *testing.T, payload []byte, side int) {
		seg, err := shm.New(1<<20, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer seg.Close()
		// A real pipe beside, so that offsets may name real rings.
		a, b, err := pipe.New(seg, "", &pipe.Options{Capacity: 1024})
		if err != nil {
			t.Fatal(err)
		}
		a.Close()
		b.Close()
		obj, err := seg.Alloc(shm.Spec{Kind: shm.KindPipe, Version: 1, Name: "x", Size: 64, Align: 64}, func(p layout.View) error {
			dst, err := p.UnsafeBytes(0, 64)
			if err != nil {
				return err
			}
			copy(dst, payload)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		defer obj.Close()
		e, err := pipe.Open(seg, "x", side&1, nil)
		if (e == nil) == (err == nil) {
			t.Fatalf("Open = %v, %v: want exactly one", e, err)
		}
		if err != nil {
			return
		}
		defer e.Close()
		if e.Readable() {
			e.PollTimeout(0)
		}
		if e.Writable() {
			e.SendBytes(context.Background(), []byte("x"))
		}
	})
}
