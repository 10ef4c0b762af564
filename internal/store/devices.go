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

// luaSetFields writes a device's fields in one HSET and one HDEL: the
// fixed field/value pairs given as arguments, then the pairs ARGV[from..to],
// where an empty value deletes its field (a tag set to null).
const luaSetFields = `
local function setFields(key, from, to, ...)
  local set, del = {...}, {}
  for i = from, to, 2 do
    if ARGV[i + 1] == '' then del[#del + 1] = ARGV[i] else set[#set + 1] = ARGV[i]; set[#set + 1] = ARGV[i + 1] end
  end
  redis.call('HSET', key, unpack(set))
  if #del > 0 then redis.call('HDEL', key, unpack(del)) end
end
`

// scriptRegisterDevice creates or updates a device and keeps the user
// index right. The caller read the device's current user first (it names
// the user set to leave); the script checks it is still that user.
//
// It also decides, against the stored device and in the same step as the
// write, whether the registration binds the phone to a user id or moves
// it to another: the user it writes differs from the one the device has
// (for a new device, from its phone, the default). Without the right to
// (ARGV[7+2n] = "0": a device token or no token, issue 13 item 1) such a
// registration writes nothing and answers "bind". Deciding in Go before
// the script would leave a window in which another registration changes
// the device between check and write.
//
// KEYS[1] -> sf:d:<app>:<phone>
// KEYS[2] -> sf:ds:<app>
// KEYS[3] -> sf:u:<app>:<old user> (the new user's set when there was none)
// KEYS[4] -> sf:u:<app>:<user>
// ARGV[1] -> phone
// ARGV[2] -> the current user the caller read ("" for a new device)
// ARGV[3] -> user
// ARGV[4] -> now (unix ms)
// ARGV[5] -> n, the number of field/value pairs
// ARGV[6..5+2n] -> fields to set; a tag with an empty value is deleted
// ARGV[6+2n] -> the application's device limit (0: none)
// ARGV[7+2n] -> "1" when the caller may bind or move the user, else "0"
//
// Returns "new", "updated", "stale" when the current user changed
// meanwhile (read it again), "full" when a new device would take the
// application past its limit, or "bind" when it would bind or move the
// user without the right to (nothing is written for either).
var scriptRegisterDevice = newScript("register_device", luaSetFields+`
local phone, expect, user, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local n = tonumber(ARGV[5])
local limit, mayBind = tonumber(ARGV[6 + n * 2]), ARGV[7 + n * 2]
local old = redis.call('HGET', KEYS[1], F.u)
if (old or '') ~= expect then return 'stale' end
if mayBind ~= '1' and user ~= (old or phone) then return 'bind' end
if not old and limit > 0 and redis.call('SCARD', KEYS[2]) >= limit then return 'full' end
if old and old ~= user then redis.call('SREM', KEYS[3], phone) end
redis.call('HSETNX', KEYS[1], F.ct, now)
setFields(KEYS[1], 6, 5 + n * 2, F.u, user, F.up, now)
redis.call('SADD', KEYS[4], phone)
redis.call('SADD', KEYS[2], phone)
if old then return 'updated' end
return 'new'
`)

// registerArgs are the keys and arguments of scriptRegisterDevice for d,
// whose current user is old ("" for a new device); mayBind is whether the
// registration may bind or move the user.
func (s *Store) registerArgs(app string, d Device, old string, pairs []any, mayBind bool) ([]string, []any) {
	user := d.UserID
	if user == "" {
		user = old
	}
	if user == "" {
		user = d.Phone
	}
	oldSet := s.k.userPrefix(app) + user
	if old != "" {
		oldSet = s.k.userPrefix(app) + old
	}
	keys := []string{s.k.device(app, d.Phone), s.k.devices(app), oldSet, s.k.userPrefix(app) + user}
	args := append([]any{d.Phone, old, user, ms(s.now()), len(pairs) / 2}, pairs...)
	bind := "0"
	if mayBind {
		bind = "1"
	}
	return keys, append(args, s.deviceLimit, bind)
}

// currentUsers reads the user of each device in one round trip ("" for
// one not registered).
func (s *Store) currentUsers(ctx context.Context, app string, phones []string) ([]string, error) {
	cmds := make([]*redis.StringCmd, len(phones))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, ph := range phones {
			cmds[i] = p.HGet(ctx, s.k.device(app, ph), fUser)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read device users: %w", err)
	}
	out := make([]string, len(phones))
	for i, c := range cmds {
		out[i] = c.Val()
	}
	return out, nil
}

// ErrUserBinding is a registration refused because it would bind its
// phone to a user id, or move it to another, and was made with
// NoUserBinding (a caller without the application's server token).
var ErrUserBinding = errors.New("binding a phone to a user id needs the application's server token")

// RegisterOption changes what one RegisterDevice call may do.
type RegisterOption func(*registration)

type registration struct{ mayBind bool }

// NoUserBinding makes RegisterDevice refuse, with ErrUserBinding and
// nothing written, a registration that would bind the phone to a user id
// or move it to another one: a userId other than the device's current
// user (for a new device, other than its phone, the default). A
// registration without a userId, or with the one the device already has,
// goes through. The decision is taken in the registration's own script,
// against the stored device, so no concurrent call can slip in between.
// The intake uses it for every caller without the server token
// (issue 13 item 1: whoever can move a phone under a user id receives
// that user's SMS).
func NoUserBinding() RegisterOption {
	return func(r *registration) { r.mayBind = false }
}

// RegisterDevice creates or updates a device. It reports whether the device
// is new. Without options it may bind the phone to any user id (the
// server token's power); see NoUserBinding.
func (s *Store) RegisterDevice(ctx context.Context, app string, d Device, opts ...RegisterOption) (bool, error) {
	r := registration{mayBind: true}
	for _, o := range opts {
		o(&r)
	}
	pairs := tagPairs(d.Tags)
	if d.Language != "" {
		pairs = append(pairs, fLanguage, d.Language)
	}
	if d.Timezone != "" {
		pairs = append(pairs, fTimezone, d.Timezone)
	}
	for try := 0; try < 5; try++ {
		olds, err := s.currentUsers(ctx, app, []string{d.Phone})
		if err != nil {
			return false, fmt.Errorf("register device: %w", err)
		}
		keys, args := s.registerArgs(app, d, olds[0], pairs, r.mayBind)
		raw, err := s.runDurable(ctx, scriptRegisterDevice, keys, args...)
		res, _ := raw.(string)
		if res == "bind" {
			// Refused before any write: whatever the replicas said, there
			// is nothing to wait for.
			return false, fmt.Errorf("register device: application %s: %w", app, ErrUserBinding)
		}
		if err != nil {
			// A registration the replicas did not acknowledge happened on
			// the primary; the client registers again (it is idempotent).
			return res == "new", fmt.Errorf("register device: %w", err)
		}
		if res == "full" {
			return false, s.limitError(app)
		}
		if res != "stale" {
			return res == "new", nil
		}
	}
	return false, fmt.Errorf("register device: its user keeps changing")
}

// scriptUnregisterDevice removes a device and its index entries. The
// caller read its user first; the script checks it is still that user.
//
// KEYS[1] -> sf:d:<app>:<phone>
// KEYS[2] -> sf:ds:<app>
// KEYS[3] -> sf:u:<app>:<user>
// ARGV[1] -> phone
// ARGV[2] -> the user the caller read
//
// Returns "removed", "missing" or "stale" (read the user again).
var scriptUnregisterDevice = newScript("unregister_device", `
local old = redis.call('HGET', KEYS[1], F.u)
if not old then return 'missing' end
if old ~= ARGV[2] then return 'stale' end
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[1])
return 'removed'
`)

// UnregisterDevice removes a device; it reports whether one existed.
func (s *Store) UnregisterDevice(ctx context.Context, app, phone string) (bool, error) {
	for try := 0; try < 5; try++ {
		olds, err := s.currentUsers(ctx, app, []string{phone})
		if err != nil {
			return false, fmt.Errorf("unregister device: %w", err)
		}
		if olds[0] == "" {
			return false, nil
		}
		res, err := scriptUnregisterDevice.Run(ctx, s.rdb, []string{s.k.device(app, phone), s.k.devices(app), s.k.userPrefix(app) + olds[0]}, phone, olds[0]).Text()
		if err != nil {
			return false, fmt.Errorf("unregister device: %w", err)
		}
		if res != "stale" {
			return res == "removed", nil
		}
	}
	return false, fmt.Errorf("unregister device: its user keeps changing")
}

// scriptSetTags merges tags into a registered device.
//
// KEYS[1] -> sf:d:<app>:<phone>
// ARGV[1] -> now (unix ms)
// ARGV[2..] -> tag field/value pairs; an empty value deletes the tag
//
// Returns 1, or 0 when the device is not registered.
var scriptSetTags = newScript("set_tags", luaSetFields+`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
setFields(KEYS[1], 2, #ARGV, F.up, ARGV[1])
return 1
`)

// SetTags merges tags into a registered device (nil values delete).
func (s *Store) SetTags(ctx context.Context, app, phone string, tags map[string]json.RawMessage) error {
	args := append([]any{ms(s.now())}, tagPairs(tags)...)
	n, err := scriptSetTags.Run(ctx, s.rdb, []string{s.k.device(app, phone)}, args...).Int()
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
	h, err := s.rdb.HGetAll(ctx, s.k.device(app, phone)).Result()
	if err != nil {
		return Device{}, fmt.Errorf("get device: %w", err)
	}
	if len(h) == 0 {
		return Device{}, ErrNotFound
	}
	return deviceFromHash(phone, h), nil
}

func deviceFromHash(phone string, h map[string]string) Device {
	d := Device{Phone: phone, UserID: h[fUser], Language: h[fLanguage], Timezone: h[fTimezone], Tags: map[string]json.RawMessage{}}
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
				cmds[j] = p.HGet(ctx, s.k.device(app, ph), fTimezone)
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
			cmds = append(cmds, p.SMIsMember(ctx, s.k.devices(app), members...))
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
			cmds[i] = p.SMembers(ctx, s.k.userPrefix(app)+u)
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
// by auto-registration and by benchmarks that need a large audience. A
// device whose user changed between the read and the write keeps its
// newer registration.
func (s *Store) RegisterDevices(ctx context.Context, app string, phones []string) error {
	const batch = 1000
	for i := 0; i < len(phones); i += batch {
		part := phones[i:min(i+batch, len(phones))]
		olds, err := s.currentUsers(ctx, app, part)
		if err != nil {
			return fmt.Errorf("register devices: %w", err)
		}
		if err := s.roomFor(ctx, app, olds); err != nil {
			return err
		}
		cmds, err := s.runPipelined(ctx, func(p redis.Pipeliner) []*redis.Cmd {
			cmds := make([]*redis.Cmd, len(part))
			for j, ph := range part {
				// A bare device keeps its user (or gets its phone): never a
				// binding, so the right to bind is not needed.
				keys, args := s.registerArgs(app, Device{Phone: ph}, olds[j], nil, false)
				cmds[j] = scriptRegisterDevice.EvalSha(ctx, p, keys, args...)
			}
			return cmds
		})
		if err != nil {
			return fmt.Errorf("register devices: %w", err)
		}
		for _, c := range cmds {
			switch c.Val() {
			case "full":
				return s.limitError(app)
			case "bind": // cannot happen for a bare device; never let it pass silently
				return fmt.Errorf("register devices: application %s: %w", app, ErrUserBinding)
			}
		}
	}
	return nil
}

// ErrDeviceLimit is a registration refused because the application has
// SMSFLEET_MAX_DEVICES_PER_APP devices already.
var ErrDeviceLimit = errors.New("the application has reached its device limit")

// WithDeviceLimit bounds how many devices one application may register
// (0: no bound). The devices of an application are its audience and do
// not expire (docs/decisions.md#19); this is what keeps them from growing
// without end, e.g. under a client with a device token registering
// numbers in a loop.
func WithDeviceLimit(n int) Option {
	return func(s *Store) { s.deviceLimit = n }
}

func (s *Store) limitError(app string) error {
	return fmt.Errorf("register device: application %s: %w (%d)", app, ErrDeviceLimit, s.deviceLimit)
}

// roomFor refuses a batch of auto-registrations that would take app past
// its device limit before any of them is written, so a createMessage is
// refused whole rather than half registered. The script checks again per
// device (concurrent registrations).
func (s *Store) roomFor(ctx context.Context, app string, olds []string) error {
	if s.deviceLimit <= 0 {
		return nil
	}
	added := 0
	for _, o := range olds {
		if o == "" {
			added++
		}
	}
	if added == 0 {
		return nil
	}
	n, err := s.rdb.SCard(ctx, s.k.devices(app)).Result()
	if err != nil {
		return fmt.Errorf("register devices: %w", err)
	}
	if int(n)+added > s.deviceLimit {
		return s.limitError(app)
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
