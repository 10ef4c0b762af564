package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Preset is a saved SMS text of an application (Pushwoosh presets).
type Preset struct {
	Code      string
	Name      string
	Content   string // JSON: a string or an object of language to text
	CreatedAt time.Time
}

// CreatePreset saves a preset under a new code (XXXXX-XXXXX).
func (s *Store) CreatePreset(ctx context.Context, app string, p Preset) (Preset, error) {
	var b [5]byte
	if _, err := rand.Read(b[:]); err != nil {
		return Preset{}, fmt.Errorf("preset code: %w", err)
	}
	h := strings.ToUpper(hex.EncodeToString(b[:]))
	p.Code, p.CreatedAt = h[:5]+"-"+h[5:], s.now().UTC()
	_, err := s.rdb.TxPipelined(ctx, func(tx redis.Pipeliner) error {
		tx.HSet(ctx, s.k.preset(app, p.Code), "name", p.Name, "content", p.Content, "ct", ms(p.CreatedAt))
		tx.ZAdd(ctx, s.k.presets(app), redis.Z{Score: float64(ms(p.CreatedAt)), Member: p.Code})
		return nil
	})
	if err != nil {
		return Preset{}, fmt.Errorf("create preset: %w", err)
	}
	return p, nil
}

// GetPreset loads one of app's presets.
func (s *Store) GetPreset(ctx context.Context, app, code string) (Preset, error) {
	h, err := s.rdb.HGetAll(ctx, s.k.preset(app, code)).Result()
	if err != nil {
		return Preset{}, fmt.Errorf("get preset: %w", err)
	}
	if len(h) == 0 {
		return Preset{}, ErrNotFound
	}
	return Preset{Code: code, Name: h["name"], Content: h["content"], CreatedAt: fromMS(h["ct"])}, nil
}

// ListPresets returns app's presets, oldest first.
func (s *Store) ListPresets(ctx context.Context, app string) ([]Preset, error) {
	codes, err := s.rdb.ZRange(ctx, s.k.presets(app), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("list presets: %w", err)
	}
	cmds := make([]*redis.MapStringStringCmd, len(codes))
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, c := range codes {
			cmds[i] = p.HGetAll(ctx, s.k.preset(app, c))
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("list presets: %w", err)
	}
	out := make([]Preset, 0, len(codes))
	for i, c := range cmds {
		if h := c.Val(); len(h) > 0 {
			out = append(out, Preset{Code: codes[i], Name: h["name"], Content: h["content"], CreatedAt: fromMS(h["ct"])})
		}
	}
	return out, nil
}

// DeletePreset removes a preset; messages already created with it keep
// their text. It reports whether the preset existed.
func (s *Store) DeletePreset(ctx context.Context, app, code string) (bool, error) {
	var del *redis.IntCmd
	_, err := s.rdb.TxPipelined(ctx, func(tx redis.Pipeliner) error {
		del = tx.Del(ctx, s.k.preset(app, code))
		tx.ZRem(ctx, s.k.presets(app), code)
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("delete preset: %w", err)
	}
	return del.Val() == 1, nil
}
