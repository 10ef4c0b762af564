package redisx

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/config"
)

// TestNewPerMode: each SMSFLEET_REDIS_MODE gets its kind of client, with
// the same timeouts, pool, retries and TLS in every mode.
func TestNewPerMode(t *testing.T) {
	base := config.Redis{Timeout: 2 * time.Second, TLS: true, Username: "u", Password: "p"}
	standalone, sentinel, cluster := base, base, base
	standalone.Addr = "10.0.0.5:6379"
	sentinel.Mode, sentinel.Addrs, sentinel.MasterName, sentinel.SentinelPassword = config.RedisSentinel, []string{"s1:26379", "s2:26379"}, "mymaster", "sp"
	cluster.Mode, cluster.Addrs = config.RedisCluster, []string{"n1:7000", "n2:7001"}

	tests := []struct {
		name string
		cfg  config.Redis
		// check asserts the kind of client and returns its options.
		check func(t *testing.T, c redis.UniversalClient) *redis.Options
	}{
		{"standalone", standalone, func(t *testing.T, c redis.UniversalClient) *redis.Options {
			rc, ok := c.(*redis.Client)
			if !ok || rc.Options().Addr != "10.0.0.5:6379" {
				t.Fatalf("%T %+v", c, rc.Options())
			}
			return rc.Options()
		}},
		{"sentinel", sentinel, func(t *testing.T, c redis.UniversalClient) *redis.Options {
			rc, ok := c.(*redis.Client)
			// go-redis's failover client is a *redis.Client whose dialer asks
			// the sentinels for the primary's address.
			if !ok || rc.Options().Addr != "FailoverClient" {
				t.Fatalf("%T %+v: not a failover client", c, rc.Options())
			}
			return rc.Options()
		}},
		{"cluster", cluster, func(t *testing.T, c redis.UniversalClient) *redis.Options {
			cc, ok := c.(*redis.ClusterClient)
			if !ok || !slices.Equal(cc.Options().Addrs, cluster.Addrs) {
				t.Fatalf("%T: not a cluster client on %v", c, cluster.Addrs)
			}
			o := cc.Options()
			return &redis.Options{DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout,
				PoolTimeout: o.PoolTimeout, PoolSize: o.PoolSize, MaxRetries: o.MaxRetries, ContextTimeoutEnabled: o.ContextTimeoutEnabled,
				TLSConfig: o.TLSConfig, Username: o.Username, Password: o.Password}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(tt.cfg)
			defer c.Close()
			o := tt.check(t, c)
			if o.DialTimeout != 2*time.Second || o.ReadTimeout != 2*time.Second || o.WriteTimeout != 2*time.Second || o.PoolTimeout != 2*time.Second ||
				o.PoolSize != 64 || o.MaxRetries != 1 || !o.ContextTimeoutEnabled {
				t.Fatalf("options differ from the other modes': %+v", o)
			}
			if o.TLSConfig == nil || o.TLSConfig.ServerName != "" || o.Username != "u" || o.Password != "p" {
				t.Fatalf("TLS or credentials not passed on: %+v", o)
			}
		})
	}
}

// TestNewDefaultTimeout: no SMSFLEET_REDIS_TIMEOUT (a Redis built in
// code) is DefaultTimeout.
func TestNewDefaultTimeout(t *testing.T) {
	c := New(config.Redis{Addr: "127.0.0.1:6379"})
	defer c.Close()
	if o := c.(*redis.Client).Options(); o.ReadTimeout != DefaultTimeout {
		t.Fatalf("read timeout %s", o.ReadTimeout)
	}
}

// TestUnavailableWithoutSentinels: with every sentinel unreachable a
// failover client's error is one the roles answer 503 to (Unavailable),
// not a 500, like a standalone Redis that is down.
func TestUnavailableWithoutSentinels(t *testing.T) {
	for _, cfg := range []config.Redis{
		{Addr: "127.0.0.1:1", Timeout: time.Second},
		{Mode: config.RedisSentinel, Addrs: []string{"127.0.0.1:1", "127.0.0.1:2"}, MasterName: "mymaster", Timeout: time.Second},
	} {
		c := New(cfg)
		err := Ping(context.Background(), c)
		_ = c.Close()
		if err == nil || !Unavailable(err) {
			t.Errorf("%s: Ping = %v, Unavailable %v; want an unavailable error", cfg.Describe(), err, Unavailable(err))
		}
	}
}
