package store

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/testenv"
)

// snapshot is every key with its hash fields or set members, sorted: what
// a refused registration must leave as it was.
func snapshot(t *testing.T, rdb *redis.Client) map[string][]string {
	t.Helper()
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, k := range keys {
		var v []string
		switch rdb.Type(ctx, k).Val() {
		case "hash":
			for f, x := range rdb.HGetAll(ctx, k).Val() {
				v = append(v, f+"="+x)
			}
		case "set":
			v = rdb.SMembers(ctx, k).Val()
		default:
			v = []string{rdb.Dump(ctx, k).Val()}
		}
		sort.Strings(v)
		out[k] = v
	}
	return out
}

// TestNoUserBindingRefusesBindingAndMoving (issue 13 item 1): with
// NoUserBinding a registration that would bind the phone to a user id (a
// new device under anything but its own number) or move it to another is
// refused with ErrUserBinding and writes nothing; one without a userId,
// or with the user the device has, goes through; without the option
// (the server token) both bind and move.
func TestNoUserBindingRefusesBindingAndMoving(t *testing.T) {
	r := testenv.NewRedis(t)
	rdb := r.Client(t)
	ctx := context.Background()
	s := New(rdb, 24*time.Hour, WithClock(func() time.Time { return time.Unix(1_800_000_000, 0) }))
	if err := s.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	const app = "SHOP1-00001"
	const alice, bob, fresh = "+4915112000701", "+4915112000702", "+4915112000703"
	for ph, u := range map[string]string{alice: "alice", bob: "bob"} {
		if _, err := s.RegisterDevice(ctx, app, Device{Phone: ph, UserID: u}); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name    string
		d       Device
		opts    []RegisterOption
		refused bool
		// user is the device's user afterwards (accepted cases).
		user string
	}{
		{name: "new phone under alice", d: Device{Phone: fresh, UserID: "alice"}, opts: []RegisterOption{NoUserBinding()}, refused: true},
		{name: "new phone under another number", d: Device{Phone: fresh, UserID: alice}, opts: []RegisterOption{NoUserBinding()}, refused: true},
		{name: "bob's phone moved to alice", d: Device{Phone: bob, UserID: "alice", Tags: map[string]json.RawMessage{"x": json.RawMessage(`1`)}}, opts: []RegisterOption{NoUserBinding()}, refused: true},
		{name: "bob's phone moved to its number", d: Device{Phone: bob, UserID: bob}, opts: []RegisterOption{NoUserBinding()}, refused: true},
		{name: "new phone without user", d: Device{Phone: fresh}, opts: []RegisterOption{NoUserBinding()}, user: fresh},
		{name: "new phone's own number again", d: Device{Phone: fresh, UserID: fresh, Language: "de"}, opts: []RegisterOption{NoUserBinding()}, user: fresh},
		{name: "bob with bob", d: Device{Phone: bob, UserID: "bob", Language: "fr"}, opts: []RegisterOption{NoUserBinding()}, user: "bob"},
		{name: "bob without user", d: Device{Phone: bob}, opts: []RegisterOption{NoUserBinding()}, user: "bob"},
		{name: "server binds the new phone", d: Device{Phone: fresh, UserID: "carol"}, user: "carol"},
		{name: "server moves bob's phone", d: Device{Phone: bob, UserID: "dave"}, user: "dave"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := snapshot(t, rdb)
			_, err := s.RegisterDevice(ctx, app, tc.d, tc.opts...)
			if tc.refused {
				if !errors.Is(err, ErrUserBinding) {
					t.Fatalf("err %v, want ErrUserBinding", err)
				}
				if after := snapshot(t, rdb); !reflect.DeepEqual(before, after) {
					t.Fatalf("a refused registration wrote:\nbefore %v\nafter  %v", before, after)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			d, err := s.GetDevice(ctx, app, tc.d.Phone)
			if err != nil || d.UserID != tc.user {
				t.Fatalf("device %+v %v, want user %s", d, err, tc.user)
			}
			phones, _ := s.PhonesOfUsers(ctx, app, []string{tc.user})
			if !reflect.DeepEqual(phones[0], []string{tc.d.Phone}) {
				t.Fatalf("%s's phones %v, want [%s]", tc.user, phones[0], tc.d.Phone)
			}
		})
	}
}

// TestRegisterScriptDecidesBindingItself: the refusal is decided in the
// script that writes, against the stored user, not by the Go caller: the
// script called directly with a user other than the stored one and the
// right withheld answers "bind" and writes nothing, whatever the caller
// computed. A check in Go before the script could be raced by a
// concurrent registration between the check and the write.
func TestRegisterScriptDecidesBindingItself(t *testing.T) {
	r := testenv.NewRedis(t)
	rdb := r.Client(t)
	ctx := context.Background()
	s := New(rdb, 24*time.Hour)
	if err := s.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	const app, phone = "SHOP1-00001", "+4915112000711"
	if _, err := s.RegisterDevice(ctx, app, Device{Phone: phone, UserID: "bob"}); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, rdb)
	keys, args := s.registerArgs(app, Device{Phone: phone, UserID: "mallory"}, "bob", nil, false)
	res, err := scriptRegisterDevice.Run(ctx, rdb, keys, args...).Text()
	if err != nil || res != "bind" {
		t.Fatalf("script: %q %v, want bind", res, err)
	}
	if after := snapshot(t, rdb); !reflect.DeepEqual(before, after) {
		t.Fatalf("the script wrote:\nbefore %v\nafter  %v", before, after)
	}
	// The same call with the right moves the phone.
	keys, args = s.registerArgs(app, Device{Phone: phone, UserID: "mallory"}, "bob", nil, true)
	if res, err := scriptRegisterDevice.Run(ctx, rdb, keys, args...).Text(); err != nil || res != "updated" {
		t.Fatalf("script with the right: %q %v, want updated", res, err)
	}
}
