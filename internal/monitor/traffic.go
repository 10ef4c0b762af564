package monitor

import (
	"context"
	"embed"
	"html/template"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/traffic"
)

// The traffic page (issue 18): the live traffic state on-call steers
// (internal/traffic: drained providers, operator weights, paused lanes and
// applications), each provider's delivery quality and the weight factor
// it keeps for it (as GET /api/v1/routes shows them), which version of
// the state each pod applies, and the audit trail of changes. It is the
// monitor's, not the Message History's: the state is fleet-wide and
// on-call's, and the monitor's login is on-call's (the history signs in
// applications, each seeing only its own messages). Plain server-rendered
// HTML behind the monitor's authentication, read-only: changes go through
// the operator API (POST /api/v1/admin/..., audited).

//go:embed templates/traffic.html
var trafficFS embed.FS

var trafficPage = template.Must(template.New("traffic.html").Funcs(template.FuncMap{
	"pct":  func(f float64) string { return strconv.FormatFloat(f*100, 'f', 1, 64) + " %" },
	"time": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
}).ParseFS(trafficFS, "templates/traffic.html"))

// TrafficOptions are what the traffic page reads.
type TrafficOptions struct {
	Store   *traffic.Store
	Quality *traffic.Quality
	// Providers are the fleet's configured providers (config.Providers, or
	// the one "simulator").
	Providers []string
	// Weights are the configured weights of the default route (the
	// operator's replace them).
	Weights map[string]int
	// AuditRows is how many audit entries the page lists (0: 50).
	AuditRows int
	Now       func() time.Time
	Log       *zap.Logger
}

// ProvidersOf names cfg's providers as the fleet does.
func ProvidersOf(cfg config.Config) []string {
	if len(cfg.Providers) == 0 {
		return []string{"simulator"}
	}
	out := make([]string, len(cfg.Providers))
	for i, p := range cfg.Providers {
		out[i] = p.Name
	}
	return out
}

// providerRow is one provider of the page.
type providerRow struct {
	Name             string
	Drained          bool
	Weight           int
	Operator         bool // Weight is the operator's
	Weighted         bool // a weight applies (the operator's or a configured one); else the route's order
	Quality          traffic.Figures
	Countries        []countryRow
	QualityAvailable bool
}

type countryRow struct {
	Code string
	traffic.Figures
}

type trafficData struct {
	Now       time.Time
	Version   int64
	Providers []providerRow
	Lanes     []string
	Apps      []string
	Pods      []traffic.PodReport
	Audit     []traffic.AuditEntry
	Error     string
}

// TrafficHandler serves the traffic page at RootPath()+"/traffic", behind
// the monitor's authentication.
func (m *Monitor) TrafficHandler(o TrafficOptions) http.Handler {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.AuditRows <= 0 {
		o.AuditRows = 50
	}
	return securityHeaders(m.authn(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := readTraffic(r.Context(), o)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		if d.Error != "" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		if err := trafficPage.Execute(w, d); err != nil && o.Log != nil {
			o.Log.Warn("traffic page", zap.Error(err))
		}
	})))
}

// readTraffic reads the state, the quality figures, the pods and the
// audit trail; a read that fails is said on the page (503).
func readTraffic(ctx context.Context, o TrafficOptions) trafficData {
	d := trafficData{Now: o.Now()}
	st, err := o.Store.Load(ctx)
	if err != nil {
		return trafficData{Now: d.Now, Error: err.Error()}
	}
	d.Version = st.Version
	d.Lanes = slices.Sorted(maps.Keys(st.PausedLanes))
	d.Apps = slices.Sorted(maps.Keys(st.PausedApps))
	var figures map[string]traffic.Figures
	if o.Quality != nil {
		if figures, err = o.Quality.Evaluate(ctx, o.Providers, d.Now); err != nil {
			d.Error = err.Error()
		}
	}
	for _, p := range o.Providers {
		row := providerRow{Name: p, Drained: st.Drained[p]}
		row.Weight, row.Weighted = o.Weights[p]
		if w, ok := st.Weights[p]; ok {
			row.Weight, row.Operator, row.Weighted = w, true, true
		}
		if f, ok := figures[p]; ok {
			row.Quality, row.QualityAvailable = f, true
			for _, cc := range slices.Sorted(maps.Keys(f.Countries)) {
				row.Countries = append(row.Countries, countryRow{Code: cc, Figures: f.Countries[cc]})
			}
		}
		d.Providers = append(d.Providers, row)
	}
	if d.Pods, err = o.Store.Pods(ctx); err != nil {
		d.Error = err.Error()
	}
	if d.Audit, err = o.Store.Audit(ctx, o.AuditRows); err != nil {
		d.Error = err.Error()
	}
	return d
}

// TrafficOptionsFor are the traffic page's options for the fleet
// configured by cfg, reading rdb.
func TrafficOptionsFor(cfg config.Config, rdb redis.UniversalClient, log *zap.Logger) TrafficOptions {
	return TrafficOptions{
		Store: traffic.NewStore(rdb, cfg.Admin.AuditMax, time.Now), Quality: traffic.NewQuality(rdb, cfg.Quality),
		Providers: ProvidersOf(cfg), Weights: cfg.DefaultRoute.Weights, Log: log,
	}
}
