// This file holds the module's import policy as data and checks every
// package against it, as go/src/go/build/deps_test.go does for the standard
// library. DESIGN.md ("Packages and their order") and STYLE.md (section 1)
// give the reasons.
//
// It imports no package of the module, so that the policy is still checked
// while some package does not compile.

package shmkit_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/shmkit/shmkit"

// levels lists the module's packages, relative to the module path, in
// import order. A package may import the standard library and packages of
// lower levels, never one of its own level or above. Packages that do not
// exist yet are listed so that their place is decided before they are
// written. A new package goes here first.
var levels = [][]string{
	0:  {"internal/sys", "internal/race"},
	1:  {"internal/layout", "internal/futex"},
	2:  {"internal/liveness", "internal/wait"},
	3:  {"shm"},
	4:  {"internal/robust"}, // the robust mutex on a word of an shm object
	5:  {"semaphore"},
	6:  {"condvar", "ringbuf", "internal/typed"}, // condvar and internal/typed use semaphore
	7:  {"value", "array"},                       // both are internal/typed with their own methods
	8:  {"process"},
	9:  {"pipe"},
	10: {"pool", "manager"},
	11: {"bench"},
	12: {"cmd/shmkit"},
}

// testHelper is outside the levels: it may import any package of the module
// except commands, and only _test.go files may import it.
const testHelper = "internal/shmtest"

// osWrapper is the only package that may import the modules in osModules.
const osWrapper = "internal/sys"

var osModules = []string{"golang.org/x/sys", "github.com/edsrzf/mmap-go"}

// reportUser is the only package that may import the modules in
// reportModules: the benchmark reports take their percentiles from a
// histogram library and their plots from a plotting library (issue 7).
const reportUser = "bench"

var reportModules = []string{"github.com/HdrHistogram/hdrhistogram-go", "gonum.org/v1/plot"}

// unsafeUsers are the only packages that may import unsafe: those that wrap
// the OS, the runtime or the mapping.
var unsafeUsers = []string{"internal/sys", "internal/futex", "internal/race", "internal/layout"}

var levelOf = func() map[string]int {
	m := make(map[string]int)
	for l, pkgs := range levels {
		for _, p := range pkgs {
			m[p] = l
		}
	}
	return m
}()

// within reports whether path is root or a package below it.
func within(path, root string) bool {
	return path == root || strings.HasPrefix(path, root+"/")
}

// rel returns path relative to the module, and whether it is in the module.
func rel(path string) (string, bool) {
	if path == module {
		return "", true
	}
	r, ok := strings.CutPrefix(path, module+"/")
	return r, ok
}

// policyErrors returns one message for every rule that package pkg breaks by
// importing imports (its non-test imports). Both are full import paths.
// Packages outside the module break no rule.
func policyErrors(pkg string, imports []string) []string {
	p, ok := rel(pkg)
	if !ok {
		return nil
	}
	level, inTable := levelOf[p]
	if !inTable && p != testHelper {
		return []string{fmt.Sprintf("table: package %s is not in the import table: add it to levels in deps_test.go (and to DESIGN.md's package list)", p)}
	}
	var errs []string
	for _, imp := range imports {
		switch i, inModule := rel(imp); {
		case imp == "unsafe":
			if !slices.Contains(unsafeUsers, p) {
				errs = append(errs, fmt.Sprintf("unsafe: %s imports unsafe: only %s may", p, strings.Join(unsafeUsers, ", ")))
			}
		case slices.ContainsFunc(osModules, func(m string) bool { return within(imp, m) }):
			if p != osWrapper {
				errs = append(errs, fmt.Sprintf("os: %s imports %s: only %s may import %s", p, imp, osWrapper, strings.Join(osModules, " or ")))
			}
		case inModule && i == testHelper:
			errs = append(errs, fmt.Sprintf("test helper: %s imports %s: only _test.go files may", p, testHelper))
		case inModule && p == testHelper:
			if within(i, "cmd") {
				errs = append(errs, fmt.Sprintf("test helper: %s imports %s: it may import any package of the module but commands", p, i))
			}
		case inModule:
			il, ok := levelOf[i]
			switch {
			case !ok:
				errs = append(errs, fmt.Sprintf("table: %s imports %s, which is not in the import table: add it to levels in deps_test.go", p, i))
			case il >= level:
				errs = append(errs, fmt.Sprintf("order: %s (level %d) imports %s (level %d): a package may import only packages of a lower level", p, level, i, il))
			}
		case p == reportUser && slices.ContainsFunc(reportModules, func(m string) bool { return within(imp, m) }):
			// The report's histogram and plots.
		case !strings.Contains(strings.Split(imp, "/")[0], "."):
			// The standard library: its paths have no dot in the first element.
		default:
			errs = append(errs, fmt.Sprintf("third party: %s imports %s: only the standard library and the module's own packages may be imported (and %s by %s)", p, imp, strings.Join(osModules, ", "), osWrapper))
		}
	}
	return errs
}

func TestPolicyErrors(t *testing.T) {
	const (
		xunix = "golang.org/x/sys/unix"
		mmap  = "github.com/edsrzf/mmap-go"
	)
	m := func(p string) string { return module + "/" + p }
	tests := []struct {
		name    string
		pkg     string
		imports []string
		want    string // a substring of the one expected error; "" for none
	}{
		{"command imports shm", m("cmd/shmkit"), []string{"fmt", m("shm"), m("process")}, ""},
		{"shm imports lower levels", m("shm"), []string{"sync/atomic", m("internal/futex"), m("internal/layout"), m("internal/liveness"), m("internal/sys")}, ""},
		{"value imports semaphore", m("value"), []string{m("semaphore")}, ""},
		{"condvar imports semaphore", m("condvar"), []string{m("semaphore")}, ""},
		{"shm imports process", m("shm"), []string{m("process")}, "order: shm (level 3) imports process (level 8)"},
		{"internal/sys imports liveness", m("internal/sys"), []string{m("internal/liveness")}, "order: internal/sys"},
		{"same level", m("value"), []string{m("array")}, "order: value (level 7) imports array (level 7)"},
		{"itself", m("pipe"), []string{m("pipe")}, "order: pipe"},
		{"semaphore imports value", m("semaphore"), []string{m("value")}, "order: semaphore"},
		{"sys imports x/sys and mmap-go", m("internal/sys"), []string{xunix, "golang.org/x/sys/windows", mmap, "unsafe"}, ""},
		{"futex imports x/sys/unix", m("internal/futex"), []string{xunix}, "os: internal/futex imports golang.org/x/sys/unix"},
		{"shm imports mmap-go", m("shm"), []string{mmap}, "os: shm imports github.com/edsrzf/mmap-go"},
		{"a look-alike of x/sys is third party", m("internal/sys"), []string{"golang.org/x/sysfoo"}, "third party: internal/sys imports golang.org/x/sysfoo"},
		{"layout imports unsafe", m("internal/layout"), []string{"unsafe"}, ""},
		{"shm imports unsafe", m("shm"), []string{"unsafe"}, "unsafe: shm imports unsafe"},
		{"liveness imports unsafe", m("internal/liveness"), []string{"unsafe"}, "unsafe: internal/liveness"},
		{"shm imports shmtest", m("shm"), []string{m("internal/shmtest")}, "test helper: shm imports internal/shmtest"},
		{"command imports shmtest", m("cmd/shmkit"), []string{m("internal/shmtest")}, "test helper: cmd/shmkit"},
		{"shmtest imports process and bench", m("internal/shmtest"), []string{"testing", m("process"), m("internal/sys"), m("bench")}, ""},
		{"shmtest imports a command", m("internal/shmtest"), []string{m("cmd/shmkit")}, "test helper: internal/shmtest imports cmd/shmkit"},
		{"shmtest imports unsafe", m("internal/shmtest"), []string{"unsafe"}, "unsafe: internal/shmtest"},
		{"package not in the table", m("queue"), []string{"fmt"}, "table: package queue is not in the import table"},
		{"import not in the table", m("bench"), []string{m("internal/stats")}, "table: bench imports internal/stats"},
		{"third party", m("pool"), []string{"golang.org/x/sync/errgroup"}, "third party: pool imports golang.org/x/sync/errgroup"},
		{"bench imports its report modules", m("bench"), []string{"github.com/HdrHistogram/hdrhistogram-go", "gonum.org/v1/plot/plotter"}, ""},
		{"only bench imports the report modules", m("pool"), []string{"gonum.org/v1/plot"}, "third party: pool imports gonum.org/v1/plot"},
		{"outside the module", "example.com/other", []string{m("shm"), "unsafe"}, ""},
		{"module path prefix is not the module", module + "x/shm", []string{"unsafe"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := policyErrors(tt.pkg, tt.imports)
			switch {
			case tt.want == "" && len(errs) > 0:
				t.Errorf("policyErrors(%s, %q) = %q, want none", tt.pkg, tt.imports, errs)
			case tt.want != "" && (len(errs) != 1 || !strings.Contains(errs[0], tt.want)):
				t.Errorf("policyErrors(%s, %q) = %q, want one error containing %q", tt.pkg, tt.imports, errs, tt.want)
			}
		})
	}
}

// TestLevels checks the table itself.
func TestLevels(t *testing.T) {
	seen := make(map[string]bool)
	for _, pkgs := range levels {
		for _, p := range pkgs {
			if seen[p] {
				t.Errorf("%s is in levels twice", p)
			}
			seen[p] = true
		}
	}
	if seen[testHelper] {
		t.Errorf("%s is in levels; it has rules of its own", testHelper)
	}
	for _, p := range append([]string{osWrapper}, unsafeUsers...) {
		if !seen[p] {
			t.Errorf("%s has a rule but is not in levels", p)
		}
	}
}

// contexts are the builds whose imports are checked: a file for one OS, or
// one under the race tag, may import what the others do not.
var contexts = []struct{ goos, goarch, tags string }{
	{"linux", "amd64", ""},
	{"linux", "amd64", "race"},
	{"windows", "amd64", ""},
	{"darwin", "arm64", ""},
	{"freebsd", "amd64", ""},
	{"js", "wasm", ""},
}

// TestDeps checks every package of the module, in every context, against
// the policy.
func TestDeps(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not on the PATH (as under Wine): the import policy is checked where it is")
	}
	where := make(map[string][]string) // error -> contexts that show it
	var order []string
	found := make(map[string]bool)
	for _, c := range contexts {
		name := c.goos + "/" + c.goarch
		if c.tags != "" {
			name += " -tags=" + c.tags
		}
		cmd := exec.CommandContext(t.Context(), "go", "list", "-e", "-tags="+c.tags, "-json=ImportPath,GoFiles,CgoFiles,Imports", "./...")
		cmd.Env = append(os.Environ(), "GOOS="+c.goos, "GOARCH="+c.goarch)
		cmd.Stderr = new(strings.Builder)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v: %v\n%s", name, cmd, err, cmd.Stderr)
		}
		dec := json.NewDecoder(bytes.NewReader(out))
		for {
			var pkg struct {
				ImportPath        string
				GoFiles, CgoFiles []string
				Imports           []string
			}
			if err := dec.Decode(&pkg); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: decoding go list output: %v", name, err)
			}
			if len(pkg.GoFiles)+len(pkg.CgoFiles) == 0 {
				continue // test files only (this package), or none for this build
			}
			found[pkg.ImportPath] = true
			for _, e := range policyErrors(pkg.ImportPath, pkg.Imports) {
				if where[e] == nil {
					order = append(order, e)
				}
				where[e] = append(where[e], name)
			}
		}
	}
	if !found[module+"/"+osWrapper] {
		t.Fatalf("go list found no %s among %d packages: the check read nothing", osWrapper, len(found))
	}
	for _, e := range order {
		t.Errorf("%s [%s]", e, strings.Join(where[e], ", "))
	}
}
