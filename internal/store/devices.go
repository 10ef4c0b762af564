package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Device is one registered phone (Pushwoosh device_type 18).
type Device struct {
	Phone    string
	UserID   string // empty on update keeps the current one; a new device defaults to its phone, as Pushwoosh does
	Language string
	Timezone string
	// Tags are JSON values by tag name; a nil value deletes the tag.
	Tags map[string]json.RawMessage
}

const tagPrefix = "t:"

// RegisterDevice creates or updates a device. It reports whether the device
// is new.
func (s *Store) RegisterDevice(ctx context.Context, app string, d Device) (bool, error) {
	args := []any{d.Phone, userPrefix(app), d.UserID, ms(s.now())}
	pairs := tagPairs(d.Tags)
	if d.Language != "" {
		pairs = append(pairs, "l", d.Language)
	}
	if d.Timezone != "" {
		pairs = append(pairs, "tz", d.Timezone)
	}
	args = append(args, len(pairs)/2)
	args = append(args, pairs...)
	n, err := scriptRegisterDevice.Run(ctx, s.rdb, []string{deviceKey(app, d.Phone), devicesKey(app)}, args...).Int()
	if err != nil {
		return false, fmt.Errorf("register device: %w", err)
	}
	return n == 1, nil
}

// UnregisterDevice removes a device; it reports whether one existed.
func (s *Store) UnregisterDevice(ctx context.Context, app, phone string) (bool, error) {
	n, err := scriptUnregisterDevice.Run(ctx, s.rdb, []string{deviceKey(app, phone), devicesKey(app)}, phone, userPrefix(app)).Int()
	if err != nil {
		return false, fmt.Errorf("unregister device: %w", err)
	}
	return n == 1, nil
}

// SetTags merges tags into a registered device (nil values delete).
func (s *Store) SetTags(ctx context.Context, app, phone string, tags map[string]json.RawMessage) error {
	args := append([]any{ms(s.now())}, tagPairs(tags)...)
	n, err := scriptSetTags.Run(ctx, s.rdb, []string{deviceKey(app, phone)}, args...).Int()
	if err != nil {
		return fmt.Errorf("set tags: %w", err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// GetDevice returns a registered device with its tags.
func (s *Store) GetDevice(ctx context.Context, app, phone string) (Device, error) {
	h, err := s.rdb.HGetAll(ctx, deviceKey(app, phone)).Result()
	if err != nil {
		return Device{}, fmt.Errorf("get device: %w", err)
	}
	if len(h) == 0 {
		return Device{}, ErrNotFound
	}
	return deviceFromHash(phone, h), nil
}

func deviceFromHash(phone string, h map[string]string) Device {
	d := Device{Phone: phone, UserID: h["u"], Language: h["l"], Timezone: h["tz"], Tags: map[string]json.RawMessage{}}
	for k, v := range h {
		if name, ok := strings.CutPrefix(k, tagPrefix); ok {
			d.Tags[name] = json.RawMessage(v)
		}
	}
	return d
}

// DeviceZones returns each phone's device time zone ("" when the device has
// none or is not registered), pipelined.
func (s *Store) DeviceZones(ctx context.Context, app string, phones []string) ([]string, error) {
	out := make([]string, len(phones))
	const batch = 5000
	for i := 0; i < len(phones); i += batch {
		part := phones[i:min(i+batch, len(phones))]
		cmds := make([]*redis.StringCmd, len(part))
		if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for j, ph := range part {
				cmds[j] = p.HGet(ctx, deviceKey(app, ph), "tz")
			}
			return nil
		}); err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("device zones: %w", err)
		}
		for j, c := range cmds {
			out[i+j] = c.Val()
		}
	}
	return out, nil
}

// KnownPhones reports, for each phone, whether it is registered, in one
// round trip per 10,000 numbers.
func (s *Store) KnownPhones(ctx context.Context, app string, phones []string) ([]bool, error) {
	out := make([]bool, 0, len(phones))
	const batch = 10000
	var cmds []*redis.BoolSliceCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := 0; i < len(phones); i += batch {
			part := phones[i:min(i+batch, len(phones))]
			members := make([]any, len(part))
			for j, ph := range part {
				members[j] = ph
			}
			cmds = append(cmds, p.SMIsMember(ctx, devicesKey(app), members...))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("check devices: %w", err)
	}
	for _, c := range cmds {
		out = append(out, c.Val()...)
	}
	return out, nil
}

// PhonesOfUsers returns the registered phones of each user id, in the
// order of users, each list sorted.
func (s *Store) PhonesOfUsers(ctx context.Context, app string, users []string) ([][]string, error) {
	cmds := make([]*redis.StringSliceCmd, len(users))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, u := range users {
			cmds[i] = p.SMembers(ctx, userPrefix(app)+u)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("resolve users: %w", err)
	}
	out := make([][]string, len(users))
	for i, c := range cmds {
		out[i] = c.Val()
		sort.Strings(out[i])
	}
	return out, nil
}

// RegisterDevices registers many bare devices in pipelined batches; used
// by auto-registration and by benchmarks that need a large audience.
func (s *Store) RegisterDevices(ctx context.Context, app string, phones []string) error {
	const batch = 1000
	for i := 0; i < len(phones); i += batch {
		part := phones[i:min(i+batch, len(phones))]
		_, err := s.runPipelined(ctx, func(p redis.Pipeliner) []*redis.Cmd {
			cmds := make([]*redis.Cmd, len(part))
			for j, ph := range part {
				cmds[j] = scriptRegisterDevice.EvalSha(ctx, p, []string{deviceKey(app, ph), devicesKey(app)}, ph, userPrefix(app), "", ms(s.now()), 0)
			}
			return cmds
		})
		if err != nil {
			return fmt.Errorf("register devices: %w", err)
		}
	}
	return nil
}

func tagPairs(tags map[string]json.RawMessage) []any {
	names := make([]string, 0, len(tags))
	for k := range tags {
		names = append(names, k)
	}
	sort.Strings(names)
	pairs := make([]any, 0, 2*len(names))
	for _, k := range names {
		v := tags[k]
		if string(v) == "null" {
			v = nil
		}
		pairs = append(pairs, tagPrefix+k, string(v))
	}
	return pairs
}
