package config

import (
	"crypto/x509"
	"os"
	"strings"
	"time"
)

// Budget is the time one invocation may need: the token read, the check and
// the publish, each at its limit, and the margin to report a failure. A
// writable-url request reads the token within its check and publishes
// nothing: its check and the margin.
func (c Config) Budget() time.Duration {
	if c.Serve == ServeWritableURL {
		return c.WritableCheckTimeout() + InvocationMargin
	}
	return c.SecretTimeout + c.Check.Timeout + c.PublishTimeout + InvocationMargin
}

// WritableCheckTimeout bounds the check of one writable-url request:
// CHECK_TIMEOUT, at most MaxWritableCheck.
func (c Config) WritableCheckTimeout() time.Duration {
	if c.Check.Timeout <= 0 {
		return MaxWritableCheck
	}
	return min(c.Check.Timeout, MaxWritableCheck)
}

// checkFiles reads the files the configuration names, so that what would
// certainly fail at the first invocation fails at init, naming the variable.
func checkFiles(c Config) []error {
	var errs []error
	if c.PasswordFile != "" {
		b, err := os.ReadFile(c.PasswordFile)
		switch {
		case err != nil:
			errs = append(errs, envErrorf(EnvPasswordFile, "%s=%q: %v: give a readable file holding the AUTH token", EnvPasswordFile, c.PasswordFile, unwrapPath(err)))
		case strings.TrimSpace(string(b)) == "":
			errs = append(errs, envErrorf(EnvPasswordFile, "%s=%q: the file is empty: put the AUTH token in it", EnvPasswordFile, c.PasswordFile))
		}
	}
	if c.HeartbeatKeyFile != "" {
		b, err := os.ReadFile(c.HeartbeatKeyFile)
		switch {
		case err != nil:
			errs = append(errs, envErrorf(EnvHeartbeatKeyFile, "%s=%q: %v: give a readable file holding the heartbeat key", EnvHeartbeatKeyFile, c.HeartbeatKeyFile, unwrapPath(err)))
		case len(strings.TrimSpace(string(b))) < 32:
			errs = append(errs, envErrorf(EnvHeartbeatKeyFile, "%s=%q: the key is under 32 bytes: put a random key of at least 32 characters in it", EnvHeartbeatKeyFile, c.HeartbeatKeyFile))
		}
	}
	if c.Redis.TLSCAFile != "" && c.Redis.TLS {
		b, err := os.ReadFile(c.Redis.TLSCAFile)
		switch {
		case err != nil:
			errs = append(errs, envErrorf(EnvTLSCAFile, "%s=%q: %v: give a readable PEM file of CA certificates", EnvTLSCAFile, c.Redis.TLSCAFile, unwrapPath(err)))
		case !x509.NewCertPool().AppendCertsFromPEM(b):
			errs = append(errs, envErrorf(EnvTLSCAFile, "%s=%q: the file holds no PEM certificate: give the CA bundle in PEM form", EnvTLSCAFile, c.Redis.TLSCAFile))
		}
	}
	return errs
}

// unwrapPath drops the path from an *os.PathError: the message names it.
func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
