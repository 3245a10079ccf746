package tests

import (
	"flag"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// graceMargin is what terminationGracePeriodSeconds must leave beyond
// -drain-delay + -timeout: the process must get to exit (and a slow node to
// deliver the signal) before the kubelet's SIGKILL.
const graceMargin = 5 * time.Second

// Kubernetes' defaults for a probe's unset periodSeconds and
// failureThreshold.
const (
	probeDefaultPeriodSeconds    = 10
	probeDefaultFailureThreshold = 3
)

// manifest is a lesson's kubernetes.yaml and what the test must know of
// the program: its flags with their defaults, and the readiness probe that
// asks it.
type manifest struct {
	program string
	// flags declares the program's flags on fs, returning -addr,
	// -drain-delay and -timeout.
	flags func(fs *flag.FlagSet) (addr *string, drainDelay, timeout *time.Duration)
	// probe checks the readiness probe against the container's port.
	probe func(t *testing.T, probe *corev1.Probe, port corev1.ContainerPort)
}

var manifests = []manifest{
	{
		program: "05-load-balancer",
		flags: func(fs *flag.FlagSet) (*string, *time.Duration, *time.Duration) {
			fs.Duration("delay", 5*time.Second, "")
			return fs.String("addr", ":8080", ""), fs.Duration("drain-delay", 5*time.Second, ""), fs.Duration("timeout", 5*time.Second, "")
		},
		// GET /readyz on the container's port.
		probe: func(t *testing.T, probe *corev1.Probe, port corev1.ContainerPort) {
			if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != "/readyz" ||
				(probe.HTTPGet.Port.String() != port.Name && probe.HTTPGet.Port.IntValue() != int(port.ContainerPort)) {
				t.Fatalf("want a readiness probe GET /readyz on the container's port, got %+v", probe)
			}
		},
	},
	{
		program: "09-grpc",
		flags: func(fs *flag.FlagSet) (*string, *time.Duration, *time.Duration) {
			fs.Duration("delay", 5*time.Second, "")
			fs.Duration("tick", time.Second, "")
			return fs.String("addr", ":50051", ""), fs.Duration("drain-delay", 5*time.Second, ""), fs.Duration("timeout", 5*time.Second, "")
		},
		// The kubelet's gRPC probe, grpc.health.v1.Health/Check for the
		// whole server (service ""), on the container's port.
		probe: func(t *testing.T, probe *corev1.Probe, port corev1.ContainerPort) {
			if probe == nil || probe.GRPC == nil || probe.GRPC.Port != port.ContainerPort ||
				(probe.GRPC.Service != nil && *probe.GRPC.Service != "") {
				t.Fatalf("want a gRPC readiness probe of the whole server on the container's port %d, got %+v", port.ContainerPort, probe)
			}
		},
	},
}

// serverFlags reads the program's flags from the container's command, with
// the program's own defaults, the way the program would.
func serverFlags(t *testing.T, m manifest, args []string) (addr string, drainDelay, timeout time.Duration) {
	t.Helper()
	fs := flag.NewFlagSet(m.program, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	a, d, to := m.flags(fs)
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 {
		t.Fatalf("the container's command %q is not %s's flags: %v", args, m.program, err)
	}
	return *a, *d, *to
}

// Each lesson's kubernetes.yaml, decoded strictly with the Kubernetes API
// types (an unknown or misspelt field fails): the program started in exec
// form, so that it is PID 1 and gets the SIGTERM; a readiness probe that
// fails from the SIGTERM on (05: /readyz, 09: the gRPC health service); a
// grace period that covers the drain delay and the shutdown budget the
// command line gives, with a margin; a Service that reaches the pods.
func TestKubernetesManifest(t *testing.T) {
	t.Parallel()
	for _, m := range manifests {
		t.Run(m.program, func(t *testing.T) {
			t.Parallel()
			checkManifest(t, m)
		})
	}
}

func checkManifest(t *testing.T, m manifest) {
	trackSources(t)
	data, err := os.ReadFile(filepath.Join(repoRoot(), m.program, "kubernetes.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var deployment *appsv1.Deployment
	var service *corev1.Service
	for doc := range strings.SplitSeq(string(data), "\n---\n") {
		var kind struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &kind); err != nil {
			t.Fatal(err)
		}
		switch kind.Kind {
		case "Deployment":
			deployment = &appsv1.Deployment{}
			err = yaml.UnmarshalStrict([]byte(doc), deployment)
		case "Service":
			service = &corev1.Service{}
			err = yaml.UnmarshalStrict([]byte(doc), service)
		default:
			t.Fatalf("unexpected document of kind %q", kind.Kind)
		}
		if err != nil {
			t.Fatalf("%s: %v", kind.Kind, err)
		}
	}
	if deployment == nil || service == nil {
		t.Fatal("want a Deployment and a Service")
	}

	pod := deployment.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(pod.Containers))
	}
	c := pod.Containers[0]
	// Exec form: the program itself, not a shell that would run it as its
	// child and keep the SIGTERM to itself (TestPitfallShellAsPID1).
	if len(c.Command) == 0 || filepath.Base(c.Command[0]) != m.program || len(c.Args) != 0 {
		t.Fatalf("want the program itself as the command, in exec form, got command %q args %q", c.Command, c.Args)
	}
	addr, drainDelay, timeout := serverFlags(t, m, c.Command[1:])

	if pod.TerminationGracePeriodSeconds == nil {
		t.Fatal("want terminationGracePeriodSeconds set")
	}
	grace := time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second
	if need := drainDelay + timeout + graceMargin; grace < need {
		t.Errorf("terminationGracePeriodSeconds is %s: SIGKILL may come before -drain-delay %s + -timeout %s + a %s margin = %s",
			grace, drainDelay, timeout, graceMargin, need)
	}

	_, portText, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Ports) != 1 || int(c.Ports[0].ContainerPort) != port {
		t.Fatalf("want the one container port to be -addr's %d, got %+v", port, c.Ports)
	}
	m.probe(t, c.ReadinessProbe, c.Ports[0])
	probe := c.ReadinessProbe
	// The probe must see /readyz fail while the program still serves.
	// Unset fields take Kubernetes' defaults.
	period, threshold := probe.PeriodSeconds, probe.FailureThreshold
	if period == 0 {
		period = probeDefaultPeriodSeconds
	}
	if threshold == 0 {
		threshold = probeDefaultFailureThreshold
	}
	if noticed := time.Duration(period*threshold) * time.Second; noticed >= drainDelay {
		t.Errorf("the probe notices the failures after %s (periodSeconds %d × failureThreshold %d), not within the %s drain delay",
			noticed, period, threshold, drainDelay)
	}

	// The Deployment must own its pods, and the Service reach them: both
	// selectors non-empty, each matching the pod template's labels.
	labels := deployment.Spec.Template.Labels
	selector := deployment.Spec.Selector
	switch {
	case selector == nil || len(selector.MatchLabels) == 0:
		t.Errorf("want the Deployment's selector to match labels, got %+v", selector)
	case len(selector.MatchExpressions) != 0:
		t.Errorf("want the Deployment's selector as matchLabels only, got expressions %+v", selector.MatchExpressions)
	}
	if selector != nil {
		for k, v := range selector.MatchLabels {
			if labels[k] != v {
				t.Errorf("the Deployment selects %s=%s, its pod template is labelled %v", k, v, labels)
			}
		}
	}
	if len(service.Spec.Selector) == 0 {
		t.Error("want the Service to select the pods, its selector is empty")
	}
	for k, v := range service.Spec.Selector {
		if labels[k] != v {
			t.Errorf("the Service selects %s=%s, the pods are labelled %v", k, v, labels)
		}
	}
	if len(service.Spec.Ports) != 1 || service.Spec.Ports[0].TargetPort.String() != c.Ports[0].Name {
		t.Errorf("want the Service to target the container's port %q, got %+v", c.Ports[0].Name, service.Spec.Ports)
	}
}
