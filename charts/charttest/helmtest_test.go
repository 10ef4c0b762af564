package charttest

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestHelmTestHook checks the `helm test` Pod: a test hook that GETs /readyz
// on every enabled role's Service and port, and only those.
func TestHelmTestHook(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		vs    valueSet
		roles []string
	}{
		{"all roles", valueSet{set: []string{"api.service.port=80"}}, roles},
		{"monitor off", valueSet{set: []string{"monitor.enabled=false", "secrets.monitorPassword="}}, []string{"api", "worker", "receipts"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := render(t, tc.vs, capabilities{})
			pod := get[*corev1.Pod](t, r, "Pod", fullname+"-test-readyz")
			if pod.Annotations["helm.sh/hook"] != "test" || pod.Spec.RestartPolicy != corev1.RestartPolicyNever {
				t.Errorf("hook %q restartPolicy %q", pod.Annotations["helm.sh/hook"], pod.Spec.RestartPolicy)
			}
			script := strings.Join(pod.Spec.Containers[0].Args, " ")
			for _, role := range roles {
				port := "8080"
				if role == "api" && tc.name == "all roles" {
					port = "80"
				}
				url := "http://" + fullname + "-" + role + ":" + port + "/readyz"
				if strings.Contains(script, url) != contains(tc.roles, role) {
					t.Errorf("script calls %s: %v, want %v:\n%s", url, !contains(tc.roles, role), contains(tc.roles, role), script)
				}
			}
			if !strings.Contains(r.notes, "helm test "+releaseName+" -n "+namespace) {
				t.Errorf("NOTES do not say how to run the test:\n%s", r.notes)
			}
			sc := pod.Spec.Containers[0].SecurityContext
			if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				t.Errorf("the test Pod is not restricted: %+v", sc)
			}
		})
	}
	if r := render(t, valueSet{set: []string{"tests.enabled=false"}}, capabilities{}); r.has("Pod", fullname+"-test-readyz") {
		t.Error("test Pod rendered with tests.enabled=false")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
