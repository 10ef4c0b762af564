package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/smsfleet/smsfleet/internal/store"
)

// TestScanDevices: every device of the application is seen in one walk
// in batches of at most ScanBatch, with its language and only the tags
// asked for; other applications' devices are not.
func TestScanDevices(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	const n = 2*store.ScanBatch + 17
	phones := make([]string, n)
	for i := range phones {
		phones[i] = fmt.Sprintf("+49151%08d", 30000000+i)
	}
	if err := s.RegisterDevices(ctx, "SCAN-00001", phones); err != nil {
		t.Fatal(err)
	}
	if err := s.RegisterDevices(ctx, "OTHER-0001", []string{"+4915199999999"}); err != nil {
		t.Fatal(err)
	}
	tagged := phones[5]
	if _, err := s.RegisterDevice(ctx, "SCAN-00001", store.Device{Phone: tagged, Language: "de",
		Tags: map[string]json.RawMessage{"City": json.RawMessage(`"Berlin"`), "Secret": json.RawMessage(`"x"`)}}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	batches := 0
	err := s.ScanDevices(ctx, "SCAN-00001", []string{"City", "Missing"}, func(b []store.DeviceFields) error {
		batches++
		if len(b) > 2*store.ScanBatch { // SSCAN's COUNT is a hint; a batch stays near it
			t.Fatalf("a batch of %d devices", len(b))
		}
		for _, d := range b {
			seen[d.Phone]++
			if d.Phone == tagged {
				if d.Language != "de" || string(d.Tags["City"]) != `"Berlin"` || len(d.Tags) != 1 {
					t.Fatalf("tagged device read as %+v, want language de and only City", d)
				}
			} else if len(d.Tags) != 0 || d.Language != "" {
				t.Fatalf("bare device %s read as %+v", d.Phone, d)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != n || batches < 2 {
		t.Fatalf("saw %d distinct devices in %d batches, want %d in several", len(seen), batches, n)
	}
	if seen["+4915199999999"] != 0 {
		t.Fatal("another application's device was scanned")
	}
	stop := fmt.Errorf("stop")
	if err := s.ScanDevices(ctx, "SCAN-00001", nil, func([]store.DeviceFields) error { return stop }); err != stop {
		t.Fatalf("an error from fn came back as %v", err)
	}
}
