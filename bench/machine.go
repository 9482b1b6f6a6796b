package bench

import (
	"bufio"
	"os"
	"runtime"
	"strings"
)

// Machine is what a report says of the machine it ran on.
type Machine struct {
	CPU    string // model name, where the system says
	Cores  int    // logical CPUs usable by this process
	OS     string // GOOS/GOARCH
	Kernel string // kernel release, where the system says
	Go     string // the Go version that built the program
}

func machine() Machine {
	m := Machine{Cores: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH, Go: runtime.Version(), CPU: "unknown", Kernel: "unknown"}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), ":")
			if ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}
