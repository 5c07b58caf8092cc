// Package k8s holds the tests of the Kubernetes manifests: every file
// decodes strictly into its Kubernetes API type (an unknown or misspelt
// field fails), each kustomization builds, and what the application reads
// from the ConfigMap is a valid client configuration.
package k8s

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/redisha/redisha/client"
)

// kustomization is the part of kustomize's Kustomization these manifests use;
// strict decoding fails on any other field.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Resources  []string `json:"resources"`
	Patches    []struct {
		Path   string `json:"path"`
		Target struct {
			Kind string `json:"kind"`
			Name string `json:"name"`
		} `json:"target"`
	} `json:"patches"`
}

// built is the result of a kustomization: the objects by kind and name.
type built struct {
	configMaps  map[string]*corev1.ConfigMap
	services    map[string]*corev1.Service
	deployments map[string]*appsv1.Deployment
}

// build reads the kustomization in dir and its resources, recursively,
// decoding each strictly, and applies its ConfigMap patches (a merge of data).
func build(t *testing.T, dir string) *built {
	t.Helper()
	var k kustomization
	decodeFile(t, filepath.Join(dir, "kustomization.yaml"), &k)
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		t.Fatalf("%s: apiVersion %q kind %q", dir, k.APIVersion, k.Kind)
	}
	b := &built{configMaps: map[string]*corev1.ConfigMap{}, services: map[string]*corev1.Service{}, deployments: map[string]*appsv1.Deployment{}}
	for _, r := range k.Resources {
		path := filepath.Join(dir, r)
		if st, err := os.Stat(path); err == nil && st.IsDir() {
			sub := build(t, path)
			merge(b.configMaps, sub.configMaps)
			merge(b.services, sub.services)
			merge(b.deployments, sub.deployments)
			continue
		}
		b.add(t, path)
	}
	for _, p := range k.Patches {
		if p.Target.Kind != "ConfigMap" {
			t.Fatalf("%s: patch %s targets %s: only ConfigMap patches are modelled here", dir, p.Path, p.Target.Kind)
		}
		var patch corev1.ConfigMap
		decodeFile(t, filepath.Join(dir, p.Path), &patch)
		cm, ok := b.configMaps[p.Target.Name]
		if !ok || patch.Name != p.Target.Name {
			t.Fatalf("%s: patch %s: no ConfigMap %q to patch", dir, p.Path, p.Target.Name)
		}
		for key, v := range patch.Data {
			cm.Data[key] = v
		}
	}
	return b
}

func merge[T any](dst, src map[string]T) {
	for k, v := range src {
		dst[k] = v
	}
}

// add decodes one manifest strictly into the type its kind names.
func (b *built) add(t *testing.T, path string) {
	t.Helper()
	var meta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &meta); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	switch meta.APIVersion + " " + meta.Kind {
	case "v1 ConfigMap":
		var o corev1.ConfigMap
		decodeFile(t, path, &o)
		b.configMaps[o.Name] = &o
	case "v1 Service":
		var o corev1.Service
		decodeFile(t, path, &o)
		b.services[o.Name] = &o
	case "apps/v1 Deployment":
		var o appsv1.Deployment
		decodeFile(t, path, &o)
		b.deployments[o.Name] = &o
	default:
		t.Fatalf("%s: %s %s has no type in this test: add it", path, meta.APIVersion, meta.Kind)
	}
}

func decodeFile(t *testing.T, path string, into any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "\n---") {
		t.Fatalf("%s: one object per file", path)
	}
	if err := yaml.UnmarshalStrict(data, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// Every YAML file is reached from a kustomization, so none is left unchecked.
func TestEveryFileIsUsed(t *testing.T) {
	used := map[string]bool{}
	var walk func(dir string)
	walk = func(dir string) {
		used[filepath.Join(dir, "kustomization.yaml")] = true
		var k kustomization
		decodeFile(t, filepath.Join(dir, "kustomization.yaml"), &k)
		for _, r := range k.Resources {
			if p := filepath.Join(dir, r); strings.HasSuffix(r, ".yaml") {
				used[p] = true
			} else {
				walk(p)
			}
		}
		for _, p := range k.Patches {
			used[filepath.Join(dir, p.Path)] = true
		}
	}
	walk("base")
	walk(filepath.Join("overlays", "externalname"))
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(path, ".yaml") && !used[path] {
			t.Errorf("%s is not part of any kustomization", path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The Deployment takes its settings from the ConfigMap, which holds a valid
// client configuration for the failover record; the base connects to
// redis.internal directly, over TLS, accepting only the listed endpoints.
func TestBaseConnectsToTheFailoverRecord(t *testing.T) {
	b := build(t, "base")
	cfg := appConfig(t, b)
	if cfg.Addr != "redis.internal:6379" || !cfg.TLS || len(cfg.TLSNames) != 2 {
		t.Errorf("client config %+v: want redis.internal:6379 over TLS with both endpoints listed", cfg)
	}
	for _, n := range cfg.TLSNames {
		if !strings.HasSuffix(n, ".cache.amazonaws.com") {
			t.Errorf("TLS name %q is not an ElastiCache endpoint", n)
		}
	}
}

// The ExternalName overlay points the application at the Service, which is
// a CNAME to the same failover record: the chain client tests run
// (TestCNAMEChainThroughExternalName: redis.default.svc.cluster.local →
// redis.internal → the endpoint, verified at the end of the chain).
func TestExternalNameOverlay(t *testing.T) {
	base := appConfig(t, build(t, "base"))
	b := build(t, filepath.Join("overlays", "externalname"))
	cfg := appConfig(t, b)
	svc, ok := b.services["redis"]
	if !ok {
		t.Fatal("no Service redis")
	}
	if svc.Spec.Type != corev1.ServiceTypeExternalName || svc.Spec.ExternalName+":6379" != base.Addr {
		t.Errorf("service %s: type %s externalName %q, want ExternalName to the base's host %s", svc.Name, svc.Spec.Type, svc.Spec.ExternalName, base.Addr)
	}
	if cfg.Addr != svc.Name+":6379" || svc.Namespace != "default" {
		t.Errorf("application connects to %s, want the Service %s in default", cfg.Addr, svc.Name)
	}
	if !cfg.TLS || !slices.Equal(cfg.TLSNames, base.TLSNames) {
		t.Errorf("overlay changed TLS: %+v", cfg)
	}
}

// appConfig is what the application reads: the environment the Deployment's
// envFrom gives it, through client.FromEnv.
func appConfig(t *testing.T, b *built) client.Config {
	t.Helper()
	d, ok := b.deployments["my-app"]
	if !ok || len(d.Spec.Template.Spec.Containers) != 1 {
		t.Fatal("no Deployment my-app with one container")
	}
	c := d.Spec.Template.Spec.Containers[0]
	if d.Spec.Selector == nil || d.Spec.Selector.MatchLabels["app"] != d.Spec.Template.Labels["app"] {
		t.Errorf("selector %v does not select the pod labels %v", d.Spec.Selector, d.Spec.Template.Labels)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("container %s without requests and limits", c.Name)
	}
	env := map[string]string{}
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef == nil {
			continue
		}
		cm, ok := b.configMaps[from.ConfigMapRef.Name]
		if !ok {
			t.Fatalf("envFrom names ConfigMap %q, which is not in the build", from.ConfigMapRef.Name)
		}
		merge(env, cm.Data)
	}
	cfg, err := client.FromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("the application cannot start with this ConfigMap: %v", err)
	}
	return cfg
}
