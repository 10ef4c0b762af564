package history

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"
)

//go:embed templates/*.html
var templateFS embed.FS

// pages are the templates, each parsed with the shared layout.
var pages = func() map[string]*template.Template {
	out := map[string]*template.Template{}
	for _, name := range []string{"signin", "error", "messages", "message", "sms", "phone"} {
		out[name] = template.Must(template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html"))
	}
	return out
}()

var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "–"
		}
		return t.UTC().Format("2006-01-02 15:04:05") + " UTC"
	},
	"day": func(t time.Time) string {
		if t.IsZero() {
			return "–"
		}
		return t.UTC().Format("2006-01-02 15:04")
	},
	"statusText": http.StatusText,
	"dash": func(s string) string {
		if s == "" {
			return "–"
		}
		return s
	},
}

// layoutData is what the layout reads; Data is the page's own.
type layoutData struct {
	Title  string
	Viewer *viewer
	// Phone is the phone search box's value.
	Phone string
	Data  any
}

// render writes page name with status.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name, title string, v *viewer, data any) {
	var buf bytes.Buffer
	ld := layoutData{Title: title, Viewer: v, Data: data}
	if p, ok := data.(interface{ searchPhone() string }); ok {
		ld.Phone = p.searchPhone()
	}
	if err := pages[name].ExecuteTemplate(&buf, "layout", ld); err != nil {
		s.log.Error("history: render", zap.String("page", name), zap.Error(err))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// httpError is an answer other than a page: its status, the field of the
// request at fault ("" for none) and what to tell the person.
type httpError struct {
	Status  int
	Field   string
	Message string
}

func (e *httpError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Field, e.Message) }

func pageError(status int, field, msg string) error {
	return &httpError{Status: status, Field: field, Message: msg}
}

// fail answers err: its page for an httpError, else a logged 500.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, v *viewer, err error) {
	var he *httpError
	if !errors.As(err, &he) {
		s.log.Error("history: internal error", zap.String("path", r.URL.Path), zap.Error(err))
		he = &httpError{Status: http.StatusInternalServerError, Message: "Something went wrong on our side; try again in a moment."}
	}
	d := errorData{httpError: he}
	var qe *queryError
	if errors.As(err, &qe) {
		d.Query = qe.query
	}
	s.render(w, r, he.Status, "error", http.StatusText(he.Status), v, d)
}

// errorData is the error page: the error, and the search box's text.
type errorData struct {
	*httpError
	Query string
}

func (d errorData) searchPhone() string { return d.Query }

func itoa(n int) string { return strconv.Itoa(n) }
