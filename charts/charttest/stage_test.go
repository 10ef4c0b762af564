package charttest

import (
	"os"
	"path/filepath"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
)

// The chart's bitnami dependencies (Chart.yaml) cannot be fetched here, so the
// tests swap in local stub charts (testdata/stubs) that render the Services and
// the Secret the real charts name the same way: what `helm dependency build`
// puts in charts/, offline.
var (
	stubsDir    = filepath.Join("testdata", "stubs")
	umbrellaDir = filepath.Join("testdata", "umbrella")
	dependents  = []string{"redis", "kafka"}
)

// loadChart loads the chart with the stub dependencies added, as a chart
// whose dependencies were built.
func loadChart(t testing.TB) *chart.Chart {
	t.Helper()
	chrt, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	for _, name := range dependents {
		stub, err := loader.Load(filepath.Join(stubsDir, name))
		if err != nil {
			t.Fatalf("load stub %s: %v", name, err)
		}
		chrt.AddDependency(stub)
	}
	return chrt
}

// stageChart copies the chart to a temporary directory with the stubs in its
// charts/ directory (the layout `helm dependency build` leaves) and returns
// the chart's path there, for the linter, which reads a directory.
func stageChart(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "smsfleet")
	copyDir(t, chartDir, dir)
	for _, name := range dependents {
		copyDir(t, filepath.Join(stubsDir, name), filepath.Join(dir, "charts", name))
	}
	return dir
}

// stageUmbrella lays out the umbrella chart with the staged smsfleet chart
// (and its stubs) in its charts/ directory and returns the umbrella's path.
func stageUmbrella(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "umbrella")
	copyDir(t, umbrellaDir, dir)
	copyDir(t, stageChart(t), filepath.Join(dir, "charts", "smsfleet"))
	return dir
}

func copyDir(t testing.TB, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatalf("copy %s to %s: %v", src, dst, err)
	}
}
