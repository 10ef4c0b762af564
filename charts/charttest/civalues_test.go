package charttest

import (
	"bytes"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
)

// ciValueFiles returns the chart's ci/*-values.yaml value sets (the
// chart-testing convention), failing when there are none.
func ciValueFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(chartDir, "ci", "*-values.yaml"))
	if err != nil || len(files) < 5 {
		t.Fatalf("ci value sets: %v %v", files, err)
	}
	return files
}

// templateFiles returns the chart's templates that render objects (not the
// helpers or NOTES.txt), as "smsfleet/templates/<path>".
func templateFiles(t testing.TB) []string {
	t.Helper()
	var out []string
	root := filepath.Join(chartDir, "templates")
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		out = append(out, "smsfleet/templates/"+filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCIValues lints (with Helm's linter, warnings failing) and renders every
// ci/ value set on its own, the way chart-testing and `helm lint -f` use them;
// everything-on must render every template, so linting it checks them all.
func TestCIValues(t *testing.T) {
	var logged bytes.Buffer
	log.SetOutput(&logged)
	t.Cleanup(func() { log.SetOutput(os.Stderr) })
	staged := stageChart(t)
	for _, file := range ciValueFiles(t) {
		doc, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		vs := valueSet{bare: true, yaml: string(doc)}
		t.Run(filepath.Base(file), func(t *testing.T) {
			logged.Reset()
			for _, m := range lint.AllWithKubeVersion(staged, vs.values(t), namespace, kubeVersion).Messages {
				if m.Severity >= support.WarningSev {
					t.Errorf("lint: %s", m)
				}
			}
			for _, line := range strings.Split(logged.String(), "\n") {
				if strings.Contains(line, "[INFO] Fail:") || strings.Contains(line, "[INFO] Missing required value") {
					t.Errorf("lint: %s", line)
				}
			}
			r := render(t, vs, withPromOperator)
			if len(r.names("Deployment")) == 0 {
				t.Error("no Deployment rendered")
			}
			if filepath.Base(file) != "everything-on-values.yaml" {
				return
			}
			var missing []string
			for _, tpl := range templateFiles(t) {
				if !slices.Contains(slices.Collect(mapValues(r.sources)), tpl) {
					missing = append(missing, tpl)
				}
			}
			if len(missing) > 0 {
				t.Errorf("templates that render nothing with everything-on: %v", missing)
			}
		})
	}
}

func mapValues(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for _, v := range m {
			if !yield(v) {
				return
			}
		}
	}
}
