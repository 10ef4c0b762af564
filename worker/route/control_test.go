package route

import (
	"testing"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/provider"
)

// fixedControl is a Control with set answers (the real one, polled from
// Redis, is internal/traffic's Watcher: its own tests and the end-to-end
// ones cover it).
type fixedControl struct {
	drained map[string]bool
	weights map[string]int
	factors map[string]float64
}

func (c fixedControl) Drained(p string) bool { return c.drained[p] }
func (c fixedControl) Weight(p string) (int, bool) {
	w, ok := c.weights[p]
	return w, ok
}
func (c fixedControl) Factor(p, _ string) float64 {
	if f, ok := c.factors[p]; ok {
		return f
	}
	return 1
}

// TestControlShapesFirstChoices counts first choices over many draws
// under each control: a drained provider is never a candidate; an
// operator weight replaces the configured one; a quality factor scales a
// weight (weighted route) or demotes a provider (ordered route).
func TestControlShapesFirstChoices(t *testing.T) {
	const draws = 4000
	a, b := &scripted{name: "a"}, &scripted{name: "b"}
	tests := []struct {
		name  string
		route config.Route
		ctl   fixedControl
		// wantA is the expected share of first choices for a, within tol.
		wantA, tol float64
		// never: a must not be a candidate at all.
		never bool
	}{
		{name: "no control, weighted", route: config.Route{Providers: []string{"a", "b"}, Weights: map[string]int{"a": 50, "b": 50}}, wantA: 0.5, tol: 0.06},
		{name: "a drained", route: config.Route{Providers: []string{"a", "b"}, Weights: map[string]int{"a": 50, "b": 50}},
			ctl: fixedControl{drained: map[string]bool{"a": true}}, never: true},
		{name: "a drained, ordered route", route: config.Route{Providers: []string{"a", "b"}},
			ctl: fixedControl{drained: map[string]bool{"a": true}}, never: true},
		{name: "operator weight 0 for a", route: config.Route{Providers: []string{"a", "b"}, Weights: map[string]int{"a": 50, "b": 50}},
			ctl: fixedControl{weights: map[string]int{"a": 0}}, wantA: 0, tol: 0},
		{name: "operator weights on an ordered route", route: config.Route{Providers: []string{"a", "b"}},
			ctl: fixedControl{weights: map[string]int{"a": 1, "b": 3}}, wantA: 0.25, tol: 0.05},
		{name: "quality factor on a weighted route", route: config.Route{Providers: []string{"a", "b"}, Weights: map[string]int{"a": 50, "b": 50}},
			ctl: fixedControl{factors: map[string]float64{"a": 0.1}}, wantA: 5.0 / 55, tol: 0.04},
		{name: "quality factor on an ordered route", route: config.Route{Providers: []string{"a", "b"}},
			ctl: fixedControl{factors: map[string]float64{"a": 0.2}}, wantA: 0.2, tol: 0.05},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New([]provider.Provider{a, b}, func(string) config.Route { return tt.route }, config.Default().Breaker, true, zap.NewNop())
			if tt.ctl.drained != nil || tt.ctl.weights != nil || tt.ctl.factors != nil {
				r.SetControl(tt.ctl)
			}
			first := 0
			for range draws {
				cands := r.Candidates("APP", "+447911123456", "")
				if len(cands) == 0 {
					t.Fatal("no candidates")
				}
				for _, m := range cands {
					if tt.never && m.Name() == "a" {
						t.Fatalf("drained a is a candidate: %v", names(cands))
					}
				}
				if cands[0].Name() == "a" {
					first++
				}
				if len(cands) != 2 && !tt.never {
					t.Fatalf("candidates %v: a fallback was lost", names(cands))
				}
			}
			if tt.never {
				return
			}
			if share := float64(first) / draws; share < tt.wantA-tt.tol || share > tt.wantA+tt.tol {
				t.Fatalf("a first in %.3f of draws, want %.3f ± %.2f", share, tt.wantA, tt.tol)
			}
		})
	}
}

// TestDrainedProviderIsStillAMember: an SMS bound to a provider by an ambiguous
// failure still goes there when it is drained (only it can recognise the
// retry), which the worker asks for through Member, not Candidates.
func TestDrainedProviderIsStillAMember(t *testing.T) {
	a, b := &scripted{name: "a"}, &scripted{name: "b"}
	r := New([]provider.Provider{a, b}, nil, config.Default().Breaker, true, zap.NewNop())
	r.SetControl(fixedControl{drained: map[string]bool{"a": true}})
	if r.Member("a") == nil {
		t.Fatal("a drained provider is gone from the router")
	}
	if got := names(r.Candidates("APP", "+447911123456", "")); len(got) != 1 || got[0] != "b" {
		t.Fatalf("candidates %v, want [b]", got)
	}
}
