package intake

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/smsfleet/smsfleet/internal/store"
)

// Pushwoosh's presets API: saved SMS texts an application reuses by code.

type presetRequest struct {
	Name       string          `json:"name"`
	Content    json.RawMessage `json:"content"`
	PresetCode string          `json:"preset_code"`
}

type presetView struct {
	Code      string          `json:"preset_code"`
	Name      string          `json:"name"`
	Content   json.RawMessage `json:"content"`
	CreatedAt time.Time       `json:"created_at"`
}

func viewPreset(p store.Preset) presetView {
	return presetView{Code: p.Code, Name: p.Name, Content: json.RawMessage(p.Content), CreatedAt: p.CreatedAt}
}

func (a *API) createPreset(ctx context.Context, app string, raw json.RawMessage) (any, error) {
	var req presetRequest
	if err := decodeArgs(raw, &req, ""); err != nil {
		return nil, err
	}
	name := strings.TrimSpace(req.Name)
	if name == "" || len(name) > 200 {
		return nil, argError("name", "required, at most 200 characters")
	}
	loc, err := checkContent(req.Content, "content", a.Policy(app))
	if err != nil {
		return nil, err
	}
	p, err := a.Store.CreatePreset(ctx, app, store.Preset{Name: name, Content: loc.JSON()})
	if err != nil {
		return nil, err
	}
	return map[string]string{"preset_code": p.Code}, nil
}

// lookupPreset loads the preset a request names, as a 210 when it is
// missing or another application's.
func (a *API) lookupPreset(ctx context.Context, app string, raw json.RawMessage) (store.Preset, error) {
	var req presetRequest
	if err := decodeArgs(raw, &req, ""); err != nil {
		return store.Preset{}, err
	}
	if req.PresetCode == "" {
		return store.Preset{}, argError("preset_code", "required")
	}
	p, err := a.Store.GetPreset(ctx, app, req.PresetCode)
	if errors.Is(err, store.ErrNotFound) {
		return store.Preset{}, argError("preset_code", "unknown preset code %q", req.PresetCode)
	}
	return p, err
}

func (a *API) getPreset(ctx context.Context, app string, raw json.RawMessage) (any, error) {
	p, err := a.lookupPreset(ctx, app, raw)
	if err != nil {
		return nil, err
	}
	return map[string]any{"preset": viewPreset(p)}, nil
}

func (a *API) listPresets(ctx context.Context, app string, _ json.RawMessage) (any, error) {
	ps, err := a.Store.ListPresets(ctx, app)
	if err != nil {
		return nil, err
	}
	views := make([]presetView, len(ps))
	for i, p := range ps {
		views[i] = viewPreset(p)
	}
	return map[string]any{"presets": views}, nil
}

func (a *API) deletePreset(ctx context.Context, app string, raw json.RawMessage) (any, error) {
	p, err := a.lookupPreset(ctx, app, raw)
	if err != nil {
		return nil, err
	}
	if _, err := a.Store.DeletePreset(ctx, app, p.Code); err != nil {
		return nil, err
	}
	return nil, nil
}
