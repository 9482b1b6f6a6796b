//go:build unix

package pipe_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/pipe"
)

// python finds a Python of 3.12 or later, whose multiprocessing.connection
// speaks our handshake (HMAC-SHA256 with a digest tag): $PIPE_PYTHON, else
// python3 from PATH. It skips the test if there is none.
//
//	PIPE_PYTHON=~/.pyenv/versions/3.12.1/bin/python3 go test -run Python ./pipe/
func python(t *testing.T) string {
	name := os.Getenv("PIPE_PYTHON")
	if name == "" {
		name = "python3"
	}
	if p, err := exec.LookPath(name); err == nil {
		out, err := exec.Command(p, "-c", "import sys; print(sys.version_info >= (3, 12))").Output()
		if err == nil && strings.TrimSpace(string(out)) == "True" {
			return p
		}
	}
	t.Skipf("%s is not python 3.12 or later (set PIPE_PYTHON)", name)
	return ""
}

// TestPythonInterop: a Go Listener serves Python's Client, and Go's Dial
// reaches Python's Listener, both with an auth key: framing and handshake
// are Python's.
func TestPythonInterop(t *testing.T) {
	py := python(t)
	ctx := shmtest.Deadline(t, 60*time.Second)
	key := []byte("interop key")
	t.Run("python client", func(t *testing.T) {
		l := listen(t, "unix", &pipe.NetOptions{AuthKey: key})
		cmd := exec.CommandContext(ctx, py, "-c", `
import sys
from multiprocessing.connection import Client
c = Client(sys.argv[1], authkey=b"interop key")
c.send_bytes(b"hello from python")
print(c.recv_bytes().decode())
c.close()
`, l.Addr().String())
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		c, err := l.Accept(ctx)
		if err != nil {
			cmd.Wait()
			t.Fatalf("Accept = %v; python: %s", err, out.String())
		}
		defer c.Close()
		if m, err := c.RecvBytes(ctx); err != nil || string(m) != "hello from python" {
			t.Fatalf("RecvBytes = %q, %v", m, err)
		}
		c.SendBytes(ctx, []byte("hello from go"))
		if err := cmd.Wait(); err != nil || strings.TrimSpace(out.String()) != "hello from go" {
			t.Fatalf("python: %v: %s", err, out.String())
		}
	})
	t.Run("python listener", func(t *testing.T) {
		for _, k := range [][]byte{key, []byte("wrong key")} {
			addr := t.TempDir() + "/sock"
			cmd := exec.CommandContext(ctx, py, "-c", `
import sys
from multiprocessing.connection import Listener
with Listener(sys.argv[1], authkey=b"interop key") as l:
    print("ready", flush=True)
    try:
        with l.accept() as c:
            c.send_bytes(c.recv_bytes().upper())
    except Exception as e:
        print(type(e).__name__, flush=True)
`, addr)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			lines := bufio.NewReader(out)
			if _, err := lines.ReadString('\n'); err != nil { // ready
				t.Fatal(err)
			}
			c, err := pipe.Dial(ctx, "unix", addr, &pipe.NetOptions{AuthKey: k})
			if !bytes.Equal(k, key) {
				if !errors.Is(err, pipe.ErrAuthentication) {
					t.Errorf("Dial with a wrong key = %v, want ErrAuthentication", err)
				}
				if said, _ := lines.ReadString('\n'); !strings.Contains(said, "AuthenticationError") {
					t.Errorf("python said %q, want AuthenticationError", said)
				}
				cmd.Wait()
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			c.SendBytes(ctx, []byte("shout"))
			if m, err := c.RecvBytes(context.Background()); err != nil || string(m) != "SHOUT" {
				t.Fatalf("RecvBytes = %q, %v", m, err)
			}
			c.Close()
			if err := cmd.Wait(); err != nil {
				t.Fatal(err)
			}
		}
	})
}
