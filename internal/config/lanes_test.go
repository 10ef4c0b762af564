package config

import (
	"strings"
	"testing"

	"github.com/smsfleet/smsfleet/internal/sms"
)

func TestLaneShards(t *testing.T) {
	tests := []struct {
		env     string // "" leaves SMSFLEET_LANE_SHARDS unset
		want    sms.Shards
		wantErr string
	}{
		{"", 1, ""},
		{"1", 1, ""},
		{"16", 16, ""},
		{"256", 256, ""},
		{"0", 0, "config: SMSFLEET_LANE_SHARDS must be 1 to 256, got 0"},
		{"-3", 0, "config: SMSFLEET_LANE_SHARDS must be 1 to 256, got -3"},
		{"257", 0, "config: SMSFLEET_LANE_SHARDS must be 1 to 256, got 257"},
		{"four", 0, "SMSFLEET_LANE_SHARDS"},
	}
	for _, tt := range tests {
		t.Run("SMSFLEET_LANE_SHARDS="+tt.env, func(t *testing.T) {
			if tt.env != "" {
				t.Setenv("SMSFLEET_LANE_SHARDS", tt.env)
			}
			c, err := Load()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.LaneShards(); got != tt.want {
				t.Fatalf("LaneShards() = %d, want %d", got, tt.want)
			}
		})
	}
}
