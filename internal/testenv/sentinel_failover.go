package testenv

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

// What a test does with a Sentinel set-up: find, kill and replace its
// primary.

// Primary is the primary's address as the sentinels name it (the first
// that answers).
func (s *Sentinel) Primary(ctx context.Context) (string, error) {
	var last error
	for _, sn := range s.sentinels {
		c := redis.NewSentinelClient(&redis.Options{Addr: sn.Addr})
		addr, err := c.GetMasterAddrByName(ctx, s.MasterName).Result()
		_ = c.Close()
		if err == nil && len(addr) == 2 {
			return net.JoinHostPort(addr[0], addr[1]), nil
		}
		last = err
	}
	return "", fmt.Errorf("testenv: no sentinel names the primary %s: %w", s.MasterName, last)
}

// WaitReplicated returns once every write the primary took so far is on
// all its replicas: it writes a marker and WAITs for every replica to
// acknowledge it (the replication stream is ordered, so the earlier writes
// of any connection are there too).
func (s *Sentinel) WaitReplicated(ctx context.Context) error {
	addr, err := s.Primary(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	replicas := 0
	for a, n := range s.nodes {
		if a != addr && n.cmd.ProcessState == nil {
			replicas++
		}
	}
	s.mu.Unlock()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	// One pipeline: WAIT counts the writes of its own connection.
	var wait *redis.Cmd
	_, err = c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Incr(ctx, "testenv:replicated")
		wait = p.Do(ctx, "wait", replicas, 10_000)
		return nil
	})
	var got int64
	if err == nil {
		got, err = wait.Int64()
	}
	if err != nil {
		return fmt.Errorf("testenv: wait for the replicas of %s: %w", addr, err)
	}
	if got < int64(replicas) {
		return fmt.Errorf("testenv: %d of %d replicas of %s acknowledged the writes within 10 s", got, replicas, addr)
	}
	return nil
}

// KillPrimary kills the current primary with SIGKILL (no shutdown, no
// goodbye to its replicas: a crashed host) and returns its address.
func (s *Sentinel) KillPrimary(ctx context.Context) (string, error) {
	addr, err := s.Primary(ctx)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	n := s.nodes[addr]
	s.mu.Unlock()
	if n == nil {
		return "", fmt.Errorf("testenv: the sentinels name %s the primary, not a node of this set-up", addr)
	}
	if err := kill(n); err != nil {
		return "", fmt.Errorf("testenv: kill -9 primary %s: %w", addr, err)
	}
	return addr, nil
}

// WaitNewPrimary waits until a sentinel names a primary other than old
// and that node answers as a primary (ROLE master); it returns its
// address. Any sentinel counts: the one that led the failover names the
// new primary first, the others learn it a second or so later, and a
// client that asks the leader is already writing to it.
func (s *Sentinel) WaitNewPrimary(ctx context.Context, old string) (string, error) {
	for {
		for _, sn := range s.sentinels {
			if addr, ok := s.promotedBy(ctx, sn.Addr, old); ok {
				return addr, nil
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("testenv: no new primary after %s: %w", old, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// promotedBy reports the primary sentinel names if it is not old and
// answers ROLE master.
func (s *Sentinel) promotedBy(ctx context.Context, sentinel, old string) (string, bool) {
	sc := redis.NewSentinelClient(&redis.Options{Addr: sentinel})
	got, err := sc.GetMasterAddrByName(ctx, s.MasterName).Result()
	_ = sc.Close()
	if err != nil || len(got) != 2 {
		return "", false
	}
	addr := net.JoinHostPort(got[0], got[1])
	if addr == old {
		return "", false
	}
	c := redis.NewClient(&redis.Options{Addr: addr})
	role, err := c.Do(ctx, "role").Slice()
	_ = c.Close()
	return addr, err == nil && len(role) > 0 && role[0] == "master"
}

// Failover kills the primary and waits for the sentinels to promote a
// replica; it returns the old and new primaries' addresses.
func (s *Sentinel) Failover(ctx context.Context) (old, next string, err error) {
	old, err = s.KillPrimary(ctx)
	if err != nil {
		return "", "", err
	}
	next, err = s.WaitNewPrimary(ctx, old)
	return old, next, err
}
