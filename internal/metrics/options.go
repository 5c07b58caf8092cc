package metrics

import (
	"fmt"
	"strings"
)

// Limits CloudWatch puts on what is published (API_PutMetricData,
// API_Dimension and the Embedded Metric Format specification).
const (
	maxDimensions     = 30   // per metric, both publishers
	maxNamespace      = 255  // PutMetricData's Namespace
	maxDimensionName  = 250  // EMF's DimensionReference; PutMetricData allows 255
	maxDimensionValue = 1024 // both
	highResolution    = 1
	stdResolution     = 60
)

// Options shape what a publisher sends; both publishers take them.
type Options struct {
	// Namespace of every metric: printable ASCII, at most 255 characters,
	// not starting with ':' or "AWS/". default: Custom/Redis
	Namespace string
	// Dimensions of every metric, at most 30, names unique. default: none
	// (the metric the design's alarm and Route 53 health check read)
	Dimensions []Dimension
	// HighResolution also publishes HealthCheckStatusHighRes with
	// StorageResolution 1; the other metrics stay at 60 because Route 53
	// only accepts alarms on standard-resolution data. default: false
	HighResolution bool
}

func (o Options) withDefaults() Options {
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	return o
}

// Validate returns the first option CloudWatch would reject, naming it and
// the fix. An empty Namespace is valid: it means DefaultNamespace.
func (o Options) Validate() error {
	if err := validateNamespace(o.withDefaults().Namespace); err != nil {
		return err
	}
	return validateDimensions(o.Dimensions)
}

func validateNamespace(ns string) error {
	switch {
	case len(ns) > maxNamespace:
		return fmt.Errorf("namespace is %d characters: use at most %d", len(ns), maxNamespace)
	case strings.TrimSpace(ns) == "":
		return fmt.Errorf("namespace %q is blank: leave it unset for %s or give one", ns, DefaultNamespace)
	case strings.HasPrefix(ns, ":"):
		return fmt.Errorf("namespace %q starts with ':': CloudWatch rejects it; drop the colon", ns)
	case strings.HasPrefix(ns, "AWS/"):
		return fmt.Errorf("namespace %q is reserved for AWS services: use your own, e.g. %s", ns, DefaultNamespace)
	case !printableASCII(ns):
		return fmt.Errorf("namespace %q has a control or non-ASCII character: use printable ASCII", ns)
	}
	return nil
}

func validateDimensions(ds []Dimension) error {
	if len(ds) > maxDimensions {
		return fmt.Errorf("%d dimensions: CloudWatch takes at most %d per metric; drop some", len(ds), maxDimensions)
	}
	seen := make(map[string]bool, len(ds))
	for i, d := range ds {
		switch {
		case strings.TrimSpace(d.Name) == "" || strings.TrimSpace(d.Value) == "":
			return fmt.Errorf("dimension %d (%q=%q) has an empty name or value: give both, e.g. Region=us-east-1", i+1, d.Name, d.Value)
		case len(d.Name) > maxDimensionName:
			return fmt.Errorf("dimension name %.20q… is %d characters: use at most %d", d.Name, len(d.Name), maxDimensionName)
		case len(d.Value) > maxDimensionValue:
			return fmt.Errorf("dimension %s value is %d characters: use at most %d", d.Name, len(d.Value), maxDimensionValue)
		case strings.HasPrefix(d.Name, ":"):
			return fmt.Errorf("dimension name %q starts with ':': CloudWatch rejects it; drop the colon", d.Name)
		case !printableASCII(d.Name) || !printableASCII(d.Value):
			return fmt.Errorf("dimension %q=%q has a control or non-ASCII character: use printable ASCII", d.Name, d.Value)
		case isMetricName(d.Name) || d.Name == "_aws":
			// In an EMF document dimensions and metrics share the root
			// object: the dimension would overwrite the metric's value.
			return fmt.Errorf("dimension name %s is taken by the metrics: rename the dimension", d.Name)
		case seen[d.Name]:
			return fmt.Errorf("dimension %s is given twice: keep one", d.Name)
		}
		seen[d.Name] = true
	}
	return nil
}

func isMetricName(s string) bool {
	switch s {
	case HealthCheckStatus, HealthCheckStatusHighRes, HealthCheckLatency, ReplicationLagSeconds, WritableStatus:
		return true
	}
	return false
}

// printableASCII reports whether s holds only ASCII without control
// characters, as CloudWatch requires of namespaces and dimensions.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// ParseDimensions reads "Name=Value,Name2=Value2" (the METRIC_DIMENSIONS
// form): spaces around names and values are trimmed, empty input means no
// dimensions, and the result is validated as Options.Validate does.
func ParseDimensions(s string) ([]Dimension, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	out := make([]Dimension, 0, len(parts))
	for _, part := range parts {
		name, value, ok := strings.Cut(part, "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || name == "" || value == "" {
			return nil, fmt.Errorf("dimension %q is not Name=Value: write e.g. ReplicationGroup=redis-primary,Region=us-east-1",
				strings.TrimSpace(part))
		}
		out = append(out, Dimension{Name: name, Value: value})
	}
	if err := validateDimensions(out); err != nil {
		return nil, err
	}
	return out, nil
}
