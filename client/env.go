package client

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// FromEnv reads a Config from the variables of the HA design's Kubernetes
// ConfigMap (deploy/k8s): REDIS_HOST (required), REDIS_PORT (default 6379),
// REDIS_SSL ("true" turns TLS on), REDIS_TLS_NAMES (comma-separated
// allow-list of endpoint names), REDIS_USERNAME and REDIS_PASSWORD_FILE (a
// file holding the AUTH token, e.g. a mounted Secret). getenv is usually
// os.Getenv. The other fields keep their defaults.
func FromEnv(getenv func(string) string) (Config, error) {
	port := getenv("REDIS_PORT")
	if port == "" {
		port = "6379"
	}
	c := Config{Addr: net.JoinHostPort(getenv("REDIS_HOST"), port), Username: getenv("REDIS_USERNAME")}
	if getenv("REDIS_HOST") == "" {
		return Config{}, fmt.Errorf("client: REDIS_HOST is empty: set it to the name applications connect to, e.g. redis.internal")
	}
	if v := getenv("REDIS_SSL"); v != "" {
		on, err := strconv.ParseBool(v)
		if err != nil {
			return Config{}, fmt.Errorf("client: REDIS_SSL %q is not a boolean: use true or false", v)
		}
		c.TLS = on
	}
	for _, n := range strings.Split(getenv("REDIS_TLS_NAMES"), ",") {
		if n = strings.TrimSpace(n); n != "" {
			c.TLSNames = append(c.TLSNames, n)
		}
	}
	if f := getenv("REDIS_PASSWORD_FILE"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return Config{}, fmt.Errorf("client: REDIS_PASSWORD_FILE: %w", err)
		}
		c.Password = strings.TrimSpace(string(b))
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("%w (from REDIS_HOST/REDIS_PORT/REDIS_SSL/REDIS_TLS_NAMES)", err)
	}
	return c, nil
}
