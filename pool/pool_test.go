package pool_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/pool"
)

func TestMain(m *testing.M) { shmtest.Main(m) }

// The task functions every test binary (and so every worker) registers.
var (
	square = pool.MustRegister("test-square", func(ctx context.Context, x int) (int, error) {
		return x * x, nil
	})
	pid = pool.MustRegister("test-pid", func(ctx context.Context, x int) (int, error) {
		return os.Getpid(), nil
	})
	// failAt fails on 5 and panics on 7.
	failAt = pool.MustRegister("test-fail", func(ctx context.Context, x int) (int, error) {
		switch x {
		case 5:
			return 0, fmt.Errorf("bad item %d", x)
		case 7:
			panic("item 7 panicked")
		}
		return x, nil
	})
	sleepMS = pool.MustRegister("test-sleep", func(ctx context.Context, ms int) (int, error) {
		time.Sleep(time.Duration(ms) * time.Millisecond)
		return ms, nil
	})
	exitWith = pool.MustRegister("test-exit", func(ctx context.Context, code int) (int, error) {
		os.Exit(code)
		return 0, nil
	})
	add = pool.MustRegister2("test-add", func(ctx context.Context, a int, b string) (string, error) {
		return b + strconv.Itoa(a), nil
	})
	// hang marks dir/<pid> the first time it runs (for the test to find
	// and kill the worker) and then sleeps; later runs return at once.
	hang = pool.MustRegister("test-hang", func(ctx context.Context, dir string) (int, error) {
		f, err := os.OpenFile(filepath.Join(dir, "mark"), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return -1, nil // a retry
		}
		fmt.Fprint(f, os.Getpid())
		f.Close()
		time.Sleep(time.Minute)
		return os.Getpid(), nil
	})
	unencodable = pool.MustRegister("test-unencodable", func(ctx context.Context, x int) (func(), error) {
		return func() {}, nil
	})
	anyArg = pool.MustRegister("test-any", func(ctx context.Context, x any) (int, error) {
		return 1, nil
	})

	initialized string
	setInit     = pool.MustRegisterInitializer("test-init", func(ctx context.Context, s string) error {
		if s == "fail" {
			return errors.New("initializer refused")
		}
		initialized = s + ":" + strconv.Itoa(os.Getpid())
		return nil
	})
	getInit = pool.MustRegister("test-get-init", func(ctx context.Context, _ int) (string, error) {
		return initialized, nil
	})
)

func newPool(t *testing.T, n int, opts *pool.Options) *pool.Pool {
	t.Helper()
	shmtest.NeedProcesses(t)
	p, err := pool.New(shmtest.Deadline(t, 30*time.Second), n, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Terminate(); err != nil {
			t.Errorf("Terminate: %v", err)
		}
	})
	return p
}

func ints(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

func TestMap(t *testing.T) {
	ctx := shmtest.Deadline(t, 60*time.Second)
	p := newPool(t, 2, nil)
	for _, tt := range []struct {
		name  string
		n     int
		chunk int
	}{
		{"empty", 0, 0}, {"one", 1, 0}, {"default chunks", 5000, 0}, {"chunks of 1", 300, 1}, {"chunks of 7", 1000, 7}, {"one chunk", 2000, 5000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var opts []pool.CallOption
			if tt.chunk > 0 {
				opts = append(opts, pool.ChunkSize(tt.chunk))
			}
			got, err := pool.Map(ctx, p, square, ints(tt.n), opts...)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.n {
				t.Fatalf("Map gave %d results, want %d", len(got), tt.n)
			}
			for i, v := range got {
				if v != i*i {
					t.Fatalf("Map(square)[%d] = %d, want %d", i, v, i*i)
				}
			}
		})
	}
}
