package pipe_test

import (
	"testing"

	"github.com/shmkit/shmkit/internal/shmtest"
)

func TestMain(m *testing.M) { shmtest.Main(m) }
