package bench

// Exported for the tests of package bench_test.
var (
	ParsePython = parsePython
	Header      = header
	Fill        = fill
)
