package charttest

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// promtool finds Prometheus' promtool (Debian's `prometheus` package; .ci/run
// installs it). Under CI=true a missing promtool fails the test; elsewhere
// it skips, saying how to get it.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("promtool is not installed (CI=true: this test must run): %v", err)
	}
	t.Skip("promtool is not installed; `apt-get install prometheus` (Debian) provides it")
	return ""
}

// ruleGroups renders the chart with vs and returns the PrometheusRule's
// spec.groups as a Prometheus rules file, exactly as rendered, and the
// alert names. Without annotations (keep false) for unit tests: promtool
// compares them whole, and `promtool check rules` checks their templates.
func ruleGroups(t *testing.T, vs valueSet, keep bool) ([]byte, []string) {
	t.Helper()
	r := render(t, vs, withPromOperator)
	raw, ok := r.raw["PrometheusRule/"+fullname]
	if !ok {
		t.Fatal("no PrometheusRule rendered")
	}
	var obj struct {
		Spec struct {
			Groups []map[string]any `json:"groups"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal([]byte(raw), &obj); err != nil {
		t.Fatalf("PrometheusRule: %v", err)
	}
	var alerts []string
	for _, g := range obj.Spec.Groups {
		rules, _ := g["rules"].([]any)
		for _, rule := range rules {
			m := rule.(map[string]any)
			if a, ok := m["alert"].(string); ok {
				alerts = append(alerts, a)
			}
			if !keep {
				delete(m, "annotations")
			}
		}
	}
	out, err := yaml.Marshal(map[string]any{"groups": obj.Spec.Groups})
	if err != nil {
		t.Fatal(err)
	}
	return out, alerts
}

func runPromtool(t *testing.T, bin, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("promtool %s:\n%s", strings.Join(args, " "), out)
}

// TestPromtoolCheckRules: the rendered rules (with annotations) are valid
// for Prometheus itself, for the default values and for the one where
// every optional alert is on and the selector is set by hand.
func TestPromtoolCheckRules(t *testing.T) {
	bin := promtool(t)
	for _, vs := range []valueSet{
		{},
		{set: []string{`metrics.prometheusRule.selector=namespace="sms"\, team="sms"`}},
	} {
		rules, _ := ruleGroups(t, vs, true)
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), rules, 0o600); err != nil {
			t.Fatal(err)
		}
		runPromtool(t, bin, dir, "check", "rules", "rules.yaml")
	}
}

// TestPromtoolTestRules runs the unit tests in testdata/promtool against
// the rules the chart renders by default: each alert fires when it should
// and stays quiet when it should not. Every alert the chart renders must
// have a case there.
func TestPromtoolTestRules(t *testing.T) {
	bin := promtool(t)
	rules, alerts := ruleGroups(t, valueSet{}, false)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), rules, 0o600); err != nil {
		t.Fatal(err)
	}
	tests, err := filepath.Glob(filepath.Join("testdata", "promtool", "*_test.yaml"))
	if err != nil || len(tests) == 0 {
		t.Fatalf("no promtool tests in testdata/promtool: %v", err)
	}
	tested := map[string]bool{}
	var names []string
	for _, f := range tests {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Tests []struct {
				AlertRuleTest []struct {
					Alertname string `json:"alertname"`
				} `json:"alert_rule_test"`
			} `json:"tests"`
		}
		if err := yaml.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, tc := range doc.Tests {
			for _, a := range tc.AlertRuleTest {
				tested[a.Alertname] = true
			}
		}
		name := filepath.Base(f)
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	var untested []string
	for _, a := range alerts {
		if !tested[a] {
			untested = append(untested, a)
		}
	}
	sort.Strings(untested)
	if len(untested) > 0 {
		t.Errorf("alerts without a promtool test case in testdata/promtool: %v", untested)
	}
	runPromtool(t, bin, dir, append([]string{"test", "rules"}, names...)...)
}

// TestEveryAlertHasARunbookEntry: each alert's runbook_url points at a
// "### Alert: <name>" heading of docs/operations.md (GitHub's anchor of
// it), so on-call land on what to do.
func TestEveryAlertHasARunbookEntry(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	r := render(t, valueSet{}, withPromOperator)
	pr := get[*PrometheusRule](t, r, "PrometheusRule", fullname)
	for _, rule := range allRules(pr) {
		heading := "\n### Alert: " + rule.Alert + "\n"
		anchor := "docs/operations.md#alert-" + strings.ToLower(rule.Alert)
		if !strings.Contains(string(doc), heading) {
			t.Errorf("docs/operations.md has no %q section", strings.TrimSpace(heading))
		}
		if !strings.HasSuffix(rule.Annotations["runbook_url"], anchor) {
			t.Errorf("%s runbook_url = %q, want …%s", rule.Alert, rule.Annotations["runbook_url"], anchor)
		}
	}
}
