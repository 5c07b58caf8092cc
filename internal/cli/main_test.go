package cli

import (
	"testing"

	"github.com/redisha/redisha/internal/testbed/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }
