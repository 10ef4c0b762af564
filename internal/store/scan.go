package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// DeviceFields is what ScanDevices reads of one device: its language and
// the tags asked for (a tag the device does not have is absent).
type DeviceFields struct {
	Phone    string
	Language string
	Tags     map[string]json.RawMessage
}

// ScanBatch is how many devices ScanDevices reads per round trip.
const ScanBatch = 1000

// ScanDevices walks every registered device of app and hands fn one batch
// at a time: SSCAN of the application's device set, then one pipelined
// HMGET of the language and the named tags per batch. Only one batch is
// in memory at once, however many devices the application has (conditions
// over a million devices, issue 16). A device unregistered between the
// scan and its read is skipped; one registered meanwhile may or may not be
// seen (SSCAN's guarantee: every device present for the whole walk is
// seen, some possibly twice, so fn must tolerate a repeat).
func (s *Store) ScanDevices(ctx context.Context, app string, tags []string, fn func([]DeviceFields) error) error {
	return s.ScanDevicesFrom(ctx, app, tags, 0, func(batch []DeviceFields, _, _ uint64) error { return fn(batch) })
}

// ScanDevicesFrom is ScanDevices resuming a walk at cursor (0: from the
// start), as a targeted dispatch does after a crash (targeted.go). fn also
// gets the cursor its page was read at and the one the walk goes on from
// (0 after the last page); it is called for every page, an empty one
// included, so the caller can record the walk's progress.
func (s *Store) ScanDevicesFrom(ctx context.Context, app string, tags []string, cursor uint64, fn func(page []DeviceFields, at, next uint64) error) error {
	fields := make([]string, 0, len(tags)+2)
	fields = append(fields, fCreated, fLanguage)
	for _, t := range tags {
		fields = append(fields, tagPrefix+t)
	}
	for {
		phones, next, err := s.rdb.SScan(ctx, s.k.devices(app), cursor, "", ScanBatch).Result()
		if err != nil {
			return fmt.Errorf("scan devices: %w", err)
		}
		var batch []DeviceFields
		if len(phones) > 0 {
			if batch, err = s.deviceFields(ctx, app, phones, fields, tags); err != nil {
				return err
			}
		}
		if err := fn(batch, cursor, next); err != nil {
			return err
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// deviceFields reads fields (created, language, then one per tag) of each
// phone in one pipeline.
func (s *Store) deviceFields(ctx context.Context, app string, phones, fields, tags []string) ([]DeviceFields, error) {
	cmds := make([]*redis.SliceCmd, len(phones))
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, ph := range phones {
			cmds[i] = p.HMGet(ctx, s.k.device(app, ph), fields...)
		}
		return nil
	}); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read devices: %w", err)
	}
	out := make([]DeviceFields, 0, len(phones))
	for i, c := range cmds {
		vals := c.Val()
		if len(vals) != len(fields) || vals[0] == nil {
			continue // unregistered since the scan
		}
		d := DeviceFields{Phone: phones[i], Tags: make(map[string]json.RawMessage, len(tags))}
		d.Language, _ = vals[1].(string)
		for j, t := range tags {
			if v, ok := vals[j+2].(string); ok {
				d.Tags[t] = json.RawMessage(v)
			}
		}
		out = append(out, d)
	}
	return out, nil
}
