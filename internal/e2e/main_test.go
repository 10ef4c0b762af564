package e2e_test

import (
	"testing"

	"github.com/smsfleet/smsfleet/internal/e2e/harness"
)

// TestMain stops what the run shared (the cluster run's Redis Cluster,
// harness/backend.go) once every test is done.
func TestMain(m *testing.M) { harness.Main(m) }
