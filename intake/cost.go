package intake

import (
	"net/http"
	"time"

	"github.com/smsfleet/smsfleet/internal/config"
)

// defaultCostDays is the range GET /api/v1/costs covers without from.
const defaultCostDays = 30

// dayCostView is one day of GET /api/v1/costs.
type dayCostView struct {
	Day  string `json:"day"`
	Cost string `json:"cost"`
}

// costs answers GET /api/v1/costs?from=YYYY-MM-DD&to=YYYY-MM-DD: the
// application's cost of the SMS sent on each UTC day of the range (both
// included; to defaults to today, from to 29 days before to; at most 400
// days), and their total, in the configured prices' currency. Without
// prices configured it answers 404: costs are not recorded.
func (a *API) costs(r *http.Request, app string, _ page) (any, int, error) {
	if a.Currency == "" {
		return nil, 0, httpError(http.StatusNotFound, "costs: no prices are configured (SMSFLEET_CONFIG prices:), so costs are not recorded")
	}
	q := r.URL.Query()
	to := a.Now().UTC()
	if v := q.Get("to"); v != "" {
		t, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return nil, 0, httpError(http.StatusBadRequest, "to: %q is not a date YYYY-MM-DD", v)
		}
		to = t
	}
	from := to.AddDate(0, 0, -(defaultCostDays - 1))
	if v := q.Get("from"); v != "" {
		t, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return nil, 0, httpError(http.StatusBadRequest, "from: %q is not a date YYYY-MM-DD", v)
		}
		from = t
	}
	switch days := int(to.Truncate(24*time.Hour).Sub(from.Truncate(24*time.Hour))/(24*time.Hour)) + 1; {
	case days < 1:
		return nil, 0, httpError(http.StatusBadRequest, "from: %s is after to %s", from.Format(time.DateOnly), to.Format(time.DateOnly))
	case days > 400:
		return nil, 0, httpError(http.StatusBadRequest, "from: the range is %d days, at most 400", days)
	}
	byDay, err := a.Store.CostByDay(r.Context(), app, from, to)
	if err != nil {
		return nil, 0, err
	}
	var total config.Micros
	out := make([]dayCostView, len(byDay))
	for i, d := range byDay {
		out[i] = dayCostView{Day: d.Day, Cost: config.Micros(d.Micros).String()}
		total += config.Micros(d.Micros)
	}
	return map[string]any{"currency": a.Currency, "days": out, "total": total.String()}, http.StatusOK, nil
}
