package outcomes

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestSplitReason(t *testing.T) {
	cases := []struct{ stored, code, detail string }{
		{"", "", ""},
		{"opted_out", "opted_out", ""},
		{"provider_rejected: twilio: permanent: 400 invalid To", "provider_rejected", "twilio: permanent: 400 invalid To"},
		{"ambiguous_attempt: smpp-eu", "ambiguous_attempt", "smpp-eu"},
		{"operator_undelivered: 30003", "operator_undelivered", "30003"},
		{"quota_daily", "quota_daily", ""},
		{"quota_: x", "unclassified", "quota_: x"},
		{"validity ended before a provider took it", "unclassified", "validity ended before a provider took it"},
		{"boom", "unclassified", "boom"},
	}
	for _, c := range cases {
		code, detail := SplitReason(c.stored)
		if code != c.code || detail != c.detail {
			t.Errorf("SplitReason(%q) = %q, %q; want %q, %q", c.stored, code, detail, c.code, c.detail)
		}
	}
}

// repoRoot is the module's root, two levels above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestReasonCodesAreDocumented: docs/events/README.md's reason table lists
// exactly the codes of reasons.go.
func TestReasonCodesAreDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(repoRoot(t), "docs/events/README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "### Reason codes")
	if !ok {
		t.Fatal(`docs/events/README.md has no "### Reason codes" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	row := regexp.MustCompile("(?m)^\\| `([a-z_<>]+)` \\|")
	documented := map[string]bool{}
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		documented[m[1]] = true
	}
	for _, c := range ReasonCodes() {
		if !documented[c] {
			t.Errorf("reason code %s is not in docs/events/README.md's table", c)
		}
		delete(documented, c)
	}
	for c := range documented {
		t.Errorf("docs/events/README.md lists %s, which is no reason code", c)
	}
}

// TestEveryReasonSetIsACode reads the code that sets reasons and fails on
// any reason (or its part before ": ") outside the list: a new reason
// must be added to reasons.go and the docs first.
func TestEveryReasonSetIsACode(t *testing.T) {
	root := repoRoot(t)
	var found []string
	for _, dir := range []string{"worker", "internal/store"} {
		found = append(found, reasonsInDir(t, filepath.Join(root, dir))...)
	}
	found = append(found, luaReasons(t, filepath.Join(root, "internal/store"))...)
	if len(found) < 10 {
		t.Fatalf("found only %d reasons (%v): the scan no longer sees where reasons are set", len(found), found)
	}
	for _, r := range found {
		if code, _ := SplitReason(r); code == "unclassified" {
			t.Errorf("reason %q set in code is not a listed code (internal/outcomes/reasons.go)", r)
		}
	}
}

// TestReasonScanCatchesFreeText: the scan flags what it must.
func TestReasonScanCatchesFreeText(t *testing.T) {
	src := `package worker
const whyGone = "validity ended"
const ReasonOK = "opted_out"
func f() {
	_ = verdict{fate: fateExpire, reason: "it took too long"}
	_ = verdict{fate: fateDefer, reason: "quiet hours 22-08"}
	_ = store.Outcome{Error: "render: " + err.Error()}
	s.Store.MarkSuppressed(ctx, id, "nope")
}`
	got := reasonsInFile(t, token.NewFileSet(), "x.go", src)
	want := map[string]bool{"validity ended": true, "opted_out": true, "it took too long": true, "render: ": true, "nope": true}
	if len(got) != len(want) {
		t.Fatalf("scan found %q, want %v", got, want)
	}
	for _, r := range got {
		if !want[r] {
			t.Errorf("scan found %q, not wanted (a deferral is no outcome)", r)
		}
	}
}

func reasonsInDir(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var out []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, reasonsInFile(t, fset, f, string(b))...)
	}
	return out
}

// reasonsInFile returns the constant reasons (or their constant leading
// part) that src sets: constants named Reason*, why* or Error*, the reason
// of a verdict that expires or suppresses, the Error of a store.Outcome,
// the reason given to MarkSuppressed or MarkExpired, what is assigned to
// a Reason field, and every literal shaped as a code prefix ("x_y: ").
func reasonsInFile(t *testing.T, fset *token.FileSet, name, src string) []string {
	t.Helper()
	f, err := parser.ParseFile(fset, name, src, 0)
	if err != nil {
		t.Fatal(err)
	}
	consts := map[string]string{}
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		if vs, ok := n.(*ast.ValueSpec); ok {
			for i, id := range vs.Names {
				if i < len(vs.Values) {
					if v, ok := constString(vs.Values[i], consts); ok {
						consts[id.Name] = v
						if strings.HasPrefix(id.Name, "Reason") || strings.HasPrefix(id.Name, "why") || strings.HasPrefix(id.Name, "Error") {
							out = append(out, v)
						}
					}
				}
			}
		}
		return true
	})
	prefix := regexp.MustCompile(`^[a-z]+(_[a-z]+)*: $`)
	add := func(e ast.Expr) {
		if v, ok := constString(e, consts); ok {
			out = append(out, v)
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CompositeLit:
			fields := keyed(n)
			switch typ := exprName(n.Type); typ {
			case "verdict":
				if fate := exprName(fields["fate"]); (fate == "fateExpire" || fate == "fateSuppress") && fields["reason"] != nil {
					add(fields["reason"])
				}
			case "store.Outcome":
				if fields["Error"] != nil {
					add(fields["Error"])
				}
			}
		case *ast.CallExpr:
			if sel, ok := n.Fun.(*ast.SelectorExpr); ok && (sel.Sel.Name == "MarkSuppressed" || sel.Sel.Name == "MarkExpired") && len(n.Args) == 3 {
				add(n.Args[2])
			}
		case *ast.AssignStmt:
			if n.Tok == token.ADD_ASSIGN {
				break // appends a detail to a reason set before
			}
			for i, l := range n.Lhs {
				if sel, ok := l.(*ast.SelectorExpr); ok && sel.Sel.Name == "Reason" && i < len(n.Rhs) {
					add(n.Rhs[i])
				}
			}
		case *ast.BasicLit:
			if s, err := strconv.Unquote(n.Value); err == nil && n.Kind == token.STRING && prefix.MatchString(s) {
				if !containsString(out, s) {
					out = append(out, s)
				}
			}
		}
		return true
	})
	return out
}

// luaReasons are the reasons the store's scripts set (F.rs, '<code>').
func luaReasons(t *testing.T, dir string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	re := regexp.MustCompile(`F\.(?:rs|e), '([^']*)'`)
	var out []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			out = append(out, m[1])
		}
	}
	return out
}

func containsString(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func keyed(c *ast.CompositeLit) map[string]ast.Expr {
	out := map[string]ast.Expr{}
	for _, e := range c.Elts {
		if kv, ok := e.(*ast.KeyValueExpr); ok {
			out[exprName(kv.Key)] = kv.Value
		}
	}
	return out
}

func exprName(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		return exprName(e.X) + "." + e.Sel.Name
	}
	return ""
}

// constString is e's constant string, or the constant leading part of a
// concatenation ("render_failed: " + err.Error()).
func constString(e ast.Expr, consts map[string]string) (string, bool) {
	switch e := e.(type) {
	case *ast.BasicLit:
		if e.Kind != token.STRING {
			return "", false
		}
		s, err := strconv.Unquote(e.Value)
		return s, err == nil
	case *ast.Ident:
		s, ok := consts[e.Name]
		return s, ok
	case *ast.ParenExpr:
		return constString(e.X, consts)
	case *ast.BinaryExpr:
		if e.Op == token.ADD {
			return constString(e.X, consts)
		}
	}
	return "", false
}
