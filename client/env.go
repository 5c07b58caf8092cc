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
// REDIS_SSL (default true; "false" turns TLS off), REDIS_TLS_NAMES
// (comma-separated allow-list of endpoint names or *.domain; default
// DefaultTLSNames), REDIS_TLS_ANY_NAME ("true": any name, see TLSAnyName),
// REDIS_ALLOW_PLAINTEXT_AUTH ("true": see AllowPlainTextAuth),
// REDIS_USERNAME and REDIS_PASSWORD_FILE (a file holding the AUTH token, e.g.
// a mounted Secret). getenv is usually os.Getenv. The other fields keep
// their defaults.
func FromEnv(getenv func(string) string) (Config, error) {
	port := getenv("REDIS_PORT")
	if port == "" {
		port = "6379"
	}
	c := Config{Addr: net.JoinHostPort(getenv("REDIS_HOST"), port), Username: getenv("REDIS_USERNAME")}
	if getenv("REDIS_HOST") == "" {
		return Config{}, fmt.Errorf("client: REDIS_HOST is empty: set it to the name applications connect to, e.g. redis.internal")
	}
	c.TLS = true
	for name, field := range map[string]*bool{"REDIS_SSL": &c.TLS, "REDIS_TLS_ANY_NAME": &c.TLSAnyName, "REDIS_ALLOW_PLAINTEXT_AUTH": &c.AllowPlainTextAuth} {
		if v := getenv(name); v != "" {
			on, err := strconv.ParseBool(v)
			if err != nil {
				return Config{}, fmt.Errorf("client: %s %q is not a boolean: use true or false", name, v)
			}
			*field = on
		}
	}
	c.PlainText = !c.TLS
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
		return Config{}, fmt.Errorf("%w (from REDIS_HOST/REDIS_PORT/REDIS_SSL/REDIS_TLS_NAMES/REDIS_TLS_ANY_NAME/REDIS_ALLOW_PLAINTEXT_AUTH)", err)
	}
	return c, nil
}
