package config

import (
	"slices"
	"strings"
	"testing"
)

// TestRedisModes: each SMSFLEET_REDIS_MODE loads with the settings it
// needs, and every wrong combination is refused with an error naming the
// variable to fix.
func TestRedisModes(t *testing.T) {
	tests := []struct {
		name      string
		env       map[string]string
		wantErr   string // a substring; "" loads
		mode      string
		endpoints []string
	}{
		{name: "default is standalone on SMSFLEET_REDIS_ADDR", mode: RedisStandalone, endpoints: []string{"127.0.0.1:6379"}},
		{name: "standalone ADDR", env: map[string]string{"SMSFLEET_REDIS_ADDR": "redis.internal:6380"},
			mode: RedisStandalone, endpoints: []string{"redis.internal:6380"}},
		{name: "standalone ADDRS with one address stands for ADDR", env: map[string]string{"SMSFLEET_REDIS_ADDRS": "10.0.0.5:6379"},
			mode: RedisStandalone, endpoints: []string{"10.0.0.5:6379"}},
		{name: "standalone with several ADDRS", env: map[string]string{"SMSFLEET_REDIS_ADDRS": "a:1,b:2"},
			wantErr: "SMSFLEET_REDIS_ADDRS has 2 addresses but SMSFLEET_REDIS_MODE is standalone"},
		{name: "standalone ADDR without a port", env: map[string]string{"SMSFLEET_REDIS_ADDR": "redis.internal"},
			wantErr: `SMSFLEET_REDIS_ADDR ("redis.internal"): want host:port`},
		{name: "standalone with a master name", env: map[string]string{"SMSFLEET_REDIS_MASTER_NAME": "mymaster"},
			wantErr: "SMSFLEET_REDIS_MASTER_NAME is set but SMSFLEET_REDIS_MODE is standalone"},
		{name: "standalone with a sentinel password", env: map[string]string{"SMSFLEET_REDIS_SENTINEL_PASSWORD": "secret"},
			wantErr: "SMSFLEET_REDIS_SENTINEL_PASSWORD is set but SMSFLEET_REDIS_MODE is standalone"},
		{name: "sentinel", env: map[string]string{"SMSFLEET_REDIS_MODE": "sentinel", "SMSFLEET_REDIS_ADDRS": "s1:26379,s2:26379,s3:26379",
			"SMSFLEET_REDIS_MASTER_NAME": "mymaster", "SMSFLEET_REDIS_SENTINEL_USERNAME": "sentinel-user", "SMSFLEET_REDIS_SENTINEL_PASSWORD": "secret"},
			mode: RedisSentinel, endpoints: []string{"s1:26379", "s2:26379", "s3:26379"}},
		{name: "sentinel without a master name", env: map[string]string{"SMSFLEET_REDIS_MODE": "sentinel", "SMSFLEET_REDIS_ADDRS": "s1:26379"},
			wantErr: "SMSFLEET_REDIS_MODE=sentinel needs SMSFLEET_REDIS_MASTER_NAME"},
		{name: "sentinel without ADDRS", env: map[string]string{"SMSFLEET_REDIS_MODE": "sentinel", "SMSFLEET_REDIS_MASTER_NAME": "mymaster"},
			wantErr: "SMSFLEET_REDIS_MODE=sentinel needs SMSFLEET_REDIS_ADDRS"},
		{name: "sentinel address without a port", env: map[string]string{"SMSFLEET_REDIS_MODE": "sentinel", "SMSFLEET_REDIS_ADDRS": "s1:26379,s2",
			"SMSFLEET_REDIS_MASTER_NAME": "mymaster"},
			wantErr: `SMSFLEET_REDIS_ADDRS: address 2 ("s2"): want host:port`},
		{name: "cluster", env: map[string]string{"SMSFLEET_REDIS_MODE": "cluster", "SMSFLEET_REDIS_ADDRS": "n1:7000,n2:7001"},
			mode: RedisCluster, endpoints: []string{"n1:7000", "n2:7001"}},
		{name: "cluster with one seed", env: map[string]string{"SMSFLEET_REDIS_MODE": "cluster", "SMSFLEET_REDIS_ADDRS": "n1:7000"},
			mode: RedisCluster, endpoints: []string{"n1:7000"}},
		{name: "cluster with a database", env: map[string]string{"SMSFLEET_REDIS_MODE": "cluster", "SMSFLEET_REDIS_ADDRS": "n1:7000", "SMSFLEET_REDIS_DB": "2"},
			wantErr: "SMSFLEET_REDIS_DB must be 0 when SMSFLEET_REDIS_MODE=cluster"},
		{name: "cluster without ADDRS", env: map[string]string{"SMSFLEET_REDIS_MODE": "cluster"},
			wantErr: "SMSFLEET_REDIS_MODE=cluster needs SMSFLEET_REDIS_ADDRS"},
		{name: "cluster with a master name", env: map[string]string{"SMSFLEET_REDIS_MODE": "cluster", "SMSFLEET_REDIS_ADDRS": "n1:7000", "SMSFLEET_REDIS_MASTER_NAME": "mymaster"},
			wantErr: "SMSFLEET_REDIS_MASTER_NAME is set but SMSFLEET_REDIS_MODE is cluster"},
		{name: "cluster seed with an empty entry", env: map[string]string{"SMSFLEET_REDIS_MODE": "cluster", "SMSFLEET_REDIS_ADDRS": "n1:7000,,n2:7001"},
			wantErr: `SMSFLEET_REDIS_ADDRS: address 2 ("")`},
		{name: "address with a space", env: map[string]string{"SMSFLEET_REDIS_MODE": "cluster", "SMSFLEET_REDIS_ADDRS": "n1:7000, n2:7001"},
			wantErr: `SMSFLEET_REDIS_ADDRS: address 2 (" n2:7001"): want host:port without spaces`},
		{name: "port out of range", env: map[string]string{"SMSFLEET_REDIS_MODE": "cluster", "SMSFLEET_REDIS_ADDRS": "n1:70000"},
			wantErr: `the port "70000" is not a number from 1 to 65535`},
		{name: "empty host", env: map[string]string{"SMSFLEET_REDIS_ADDRS": ":6379"},
			wantErr: "the host is empty"},
		{name: "unknown mode", env: map[string]string{"SMSFLEET_REDIS_MODE": "replicated"},
			wantErr: `SMSFLEET_REDIS_MODE must be standalone, sentinel or cluster, got "replicated"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("SMSFLEET_APPLICATIONS", "SHOP1-00001:server-token")
			for k, v := range tt.env {
				t.Setenv(k, v)
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
			if c.Redis.ModeOrDefault() != tt.mode || !slices.Equal(c.Redis.Endpoints(), tt.endpoints) {
				t.Fatalf("mode %q endpoints %v, want %q %v", c.Redis.ModeOrDefault(), c.Redis.Endpoints(), tt.mode, tt.endpoints)
			}
		})
	}
}

// TestRedisDescribe: what logs and errors say about the fleet's Redis names
// the mode and addresses, never a credential.
func TestRedisDescribe(t *testing.T) {
	tests := []struct {
		r    Redis
		want string
	}{
		{Redis{Addr: "127.0.0.1:6379", Password: "p"}, "standalone 127.0.0.1:6379"},
		{Redis{Mode: RedisSentinel, Addrs: []string{"s1:26379", "s2:26379"}, MasterName: "mymaster", SentinelPassword: "sp", Password: "p"},
			"sentinel mymaster via s1:26379,s2:26379"},
		{Redis{Mode: RedisCluster, Addrs: []string{"n1:7000", "n2:7001"}}, "cluster seeds n1:7000,n2:7001"},
	}
	for _, tt := range tests {
		if got := tt.r.Describe(); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.r, got, tt.want)
		}
	}
}

// TestRedisBuiltInCode: a Redis struct built in code without a mode (dev
// replaces the whole struct with its embedded server's address) is
// standalone and validates.
func TestRedisBuiltInCode(t *testing.T) {
	c := Default()
	c.Redis = Redis{Addr: "127.0.0.1:40000"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Redis.ModeOrDefault() != RedisStandalone {
		t.Fatalf("mode %q", c.Redis.ModeOrDefault())
	}
}
