package config

import (
	"strings"
	"testing"
)

func TestPartitions(t *testing.T) {
	for _, c := range []struct {
		set     int
		cluster bool
		want    int
		err     bool
	}{
		{0, false, 1, false},
		{0, true, 16, false},
		{1, true, 1, false},
		{8, false, 8, false},
		{1024, true, 1024, false},
		{-1, false, 0, true},
		{1025, true, 0, true},
	} {
		cfg := Default()
		cfg.RedisPartitions = c.set
		err := cfg.Validate()
		if c.err {
			if err == nil || !strings.Contains(err.Error(), "SMSFLEET_REDIS_PARTITIONS") {
				t.Errorf("%d partitions: %v, want an error naming SMSFLEET_REDIS_PARTITIONS", c.set, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%d partitions: %v", c.set, err)
		}
		if got := cfg.Partitions(c.cluster); got != c.want {
			t.Errorf("%d partitions, cluster %v: %d, want %d", c.set, c.cluster, got, c.want)
		}
	}
}
