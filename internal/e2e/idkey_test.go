package e2e_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/e2e/harness"
	"github.com/smsfleet/smsfleet/internal/fleet"
	"github.com/smsfleet/smsfleet/internal/store"
)

// TestAPodWithAnotherIDSecretDoesNotStart: a fleet is running with the id
// key it created in Redis; a pod configured with another SMSFLEET_ID_SECRET
// (a half-applied Secret) would derive other SMS ids, other task ids, and
// send SMS twice: it refuses to start, naming the variable.
func TestAPodWithAnotherIDSecretDoesNotStart(t *testing.T) {
	e := harness.New(t, func(_ *config.Config, r *fleet.Roles) { r.Worker = false })
	cfg := e.Config
	cfg.IDSecret = strings.Repeat("s", 40)
	_, err := fleet.New(context.Background(), fleet.Options{Config: cfg, Roles: fleet.Roles{Worker: true}, Redis: e.Client})
	if !errors.Is(err, store.ErrIDKeyMismatch) || !strings.Contains(err.Error(), "SMSFLEET_ID_SECRET") {
		t.Fatalf("a worker with another id secret: %v, want ErrIDKeyMismatch naming SMSFLEET_ID_SECRET", err)
	}
}
