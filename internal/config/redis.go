package config

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// The Redis modes (SMSFLEET_REDIS_MODE). An empty mode, a Redis struct
// built in code (dev, tests), is standalone.
const (
	RedisStandalone = "standalone"
	RedisSentinel   = "sentinel"
	RedisCluster    = "cluster"
)

// ModeOrDefault is the mode, standalone when empty.
func (r Redis) ModeOrDefault() string {
	if r.Mode == "" {
		return RedisStandalone
	}
	return r.Mode
}

// Endpoints are the addresses the client dials first: the primary
// (standalone), the sentinels (sentinel) or the seed nodes (cluster).
// In standalone mode SMSFLEET_REDIS_ADDRS with one address stands for
// SMSFLEET_REDIS_ADDR, so a deployment can switch modes by changing
// SMSFLEET_REDIS_MODE and SMSFLEET_REDIS_ADDRS alone.
func (r Redis) Endpoints() []string {
	if r.ModeOrDefault() == RedisStandalone && len(r.Addrs) == 0 {
		return []string{r.Addr}
	}
	return r.Addrs
}

// Describe says where the fleet's Redis is, for logs and errors (never a
// credential): "standalone 10.0.0.5:6379", "sentinel mymaster via
// s1:26379,s2:26379,s3:26379", "cluster seeds n1:6379,n2:6379". (Not
// String: fmt would then print a Config's Redis as this line, and
// TestDefault compares whole Configs as printed.)
func (r Redis) Describe() string {
	eps := strings.Join(r.Endpoints(), ",")
	switch r.ModeOrDefault() {
	case RedisSentinel:
		return "sentinel " + r.MasterName + " via " + eps
	case RedisCluster:
		return "cluster seeds " + eps
	}
	return "standalone " + eps
}

// validate checks that the mode and the settings it needs go together;
// each error names the variable to fix.
func (r Redis) validate() error {
	for i, a := range r.Addrs {
		if err := checkAddr(a); err != nil {
			return fmt.Errorf("config: SMSFLEET_REDIS_ADDRS: address %d (%q): %w", i+1, a, err)
		}
	}
	switch r.ModeOrDefault() {
	case RedisStandalone:
		return r.validateStandalone()
	case RedisSentinel:
		return r.validateSentinel()
	case RedisCluster:
		return r.validateCluster()
	}
	return fmt.Errorf("config: SMSFLEET_REDIS_MODE must be standalone, sentinel or cluster, got %q", r.Mode)
}

func (r Redis) validateStandalone() error {
	if len(r.Addrs) > 1 {
		return fmt.Errorf("config: SMSFLEET_REDIS_ADDRS has %d addresses but SMSFLEET_REDIS_MODE is standalone, which takes one (set SMSFLEET_REDIS_MODE=sentinel or cluster for several)", len(r.Addrs))
	}
	if len(r.Addrs) == 0 {
		if err := checkAddr(r.Addr); err != nil {
			return fmt.Errorf("config: SMSFLEET_REDIS_ADDR (%q): %w", r.Addr, err)
		}
	}
	return r.noSentinelSettings()
}

func (r Redis) validateSentinel() error {
	switch {
	case len(r.Addrs) == 0:
		return fmt.Errorf("config: SMSFLEET_REDIS_MODE=sentinel needs SMSFLEET_REDIS_ADDRS, the sentinels' addresses (host:port, comma-separated); SMSFLEET_REDIS_ADDR is not used in this mode")
	case r.MasterName == "":
		return fmt.Errorf("config: SMSFLEET_REDIS_MODE=sentinel needs SMSFLEET_REDIS_MASTER_NAME, the name the sentinels monitor the primary under (sentinel monitor <name> ...)")
	}
	return nil
}

func (r Redis) validateCluster() error {
	switch {
	case len(r.Addrs) == 0:
		return fmt.Errorf("config: SMSFLEET_REDIS_MODE=cluster needs SMSFLEET_REDIS_ADDRS, one or more of the cluster's nodes (host:port, comma-separated); SMSFLEET_REDIS_ADDR is not used in this mode")
	case r.DB != 0:
		return fmt.Errorf("config: SMSFLEET_REDIS_DB must be 0 when SMSFLEET_REDIS_MODE=cluster (Redis Cluster has only database 0), got %d", r.DB)
	}
	return r.noSentinelSettings()
}

// noSentinelSettings refuses Sentinel's settings outside sentinel mode: a
// deployment that sets them most likely forgot SMSFLEET_REDIS_MODE.
func (r Redis) noSentinelSettings() error {
	for _, s := range []struct{ name, value string }{
		{"SMSFLEET_REDIS_MASTER_NAME", r.MasterName},
		{"SMSFLEET_REDIS_SENTINEL_USERNAME", r.SentinelUsername},
		{"SMSFLEET_REDIS_SENTINEL_PASSWORD", r.SentinelPassword},
	} {
		if s.value != "" {
			return fmt.Errorf("config: %s is set but SMSFLEET_REDIS_MODE is %s; it is used only with SMSFLEET_REDIS_MODE=sentinel", s.name, r.ModeOrDefault())
		}
	}
	return nil
}

// checkAddr checks one host:port.
func checkAddr(a string) error {
	if strings.TrimSpace(a) != a {
		return fmt.Errorf("want host:port without spaces")
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("want host:port: %w", err)
	}
	if host == "" {
		return fmt.Errorf("want host:port, the host is empty")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("want host:port, the port %q is not a number from 1 to 65535", port)
	}
	return nil
}
