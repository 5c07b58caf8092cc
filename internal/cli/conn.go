package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	awsarn "github.com/aws/aws-sdk-go-v2/aws/arn"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/redisha/redisha/internal/redisconn"
	"github.com/redisha/redisha/internal/secret"
)

// connFlags are the connection flags of every command that talks to Redis.
// addConnFlags defines them; config resolves them (flag, else environment)
// into a validated redisconn.Config.
type connFlags struct {
	fs                                                 *pflag.FlagSet
	addr, tlsServerName, tlsCAFile, user, passwordFile string
	authSecretARN                                      string
	tls, allowPlaintextAuth                            bool
	db                                                 int
	// fromEnv records the flags whose value came from the environment, so
	// that an error about them names the variable.
	fromEnv map[string]string
}

// Connection flag names and the variables they fall back to.
const (
	flagAddr          = "addr"
	flagTLS           = "tls"
	flagTLSServerName = "tls-server-name"
	flagTLSCAFile     = "tls-ca-file"
	flagUser          = "user"
	flagPasswordFile  = "password-file"
	flagAuthSecretARN = "auth-secret-arn"
	flagAllowPlain    = "allow-plaintext-auth"
	flagDB            = "db"
)

// connEnv maps each connection flag to its environment variable.
var connEnv = map[string]string{
	flagAddr:          "REDISHA_ADDR",
	flagTLS:           "REDISHA_TLS",
	flagTLSServerName: "REDISHA_TLS_SERVER_NAME",
	flagTLSCAFile:     "REDISHA_TLS_CA_FILE",
	flagUser:          "REDISHA_USER",
	flagPasswordFile:  "REDISHA_PASSWORD_FILE",
	flagAuthSecretARN: "REDISHA_AUTH_SECRET_ARN",
	flagAllowPlain:    "REDISHA_ALLOW_PLAINTEXT_AUTH",
	flagDB:            "REDISHA_DB",
}

// connFlagOrder is the order the flags are defined (and documented) in.
var connFlagOrder = []string{
	flagAddr, flagTLS, flagTLSServerName, flagTLSCAFile, flagUser, flagPasswordFile, flagAuthSecretARN, flagAllowPlain, flagDB,
}

// fieldFlags maps the field a redisconn.FieldError is about to its flag.
var fieldFlags = map[string]string{
	redisconn.FieldAddr:          flagAddr,
	redisconn.FieldDB:            flagDB,
	redisconn.FieldTLSServerName: flagTLSServerName,
	redisconn.FieldTLSCAFile:     flagTLSCAFile,
	redisconn.FieldTimeout:       "timeout",
}

// addConnFlags defines the connection flags on cmd. Call config in RunE.
func addConnFlags(cmd *cobra.Command) *connFlags {
	c := &connFlags{fs: cmd.Flags()}
	fs := c.fs
	usage := func(name, text string) string { return text + " (env " + connEnv[name] + ")" }
	fs.StringVar(&c.addr, flagAddr, "", usage(flagAddr, "endpoint `host:port` (required), e.g. redis.internal:6379"))
	fs.BoolVar(&c.tls, flagTLS, true, usage(flagTLS, "connect with TLS, certificate verification always on (--tls=false for a plain-text server)"))
	fs.StringVar(&c.tlsServerName, flagTLSServerName, "", usage(flagTLSServerName,
		"`name` to verify in the server certificate when --addr is a CNAME (e.g. the ElastiCache primary endpoint behind redis.internal)"))
	fs.StringVar(&c.tlsCAFile, flagTLSCAFile, "", usage(flagTLSCAFile, "PEM `file` of extra CAs to trust (default: system roots)"))
	fs.StringVar(&c.user, flagUser, "", usage(flagUser, "ACL `username` (default: the default user)"))
	fs.StringVar(&c.passwordFile, flagPasswordFile, "", usage(flagPasswordFile,
		"`file` holding the AUTH token, readable by its owner only (chmod 600); the token is never taken on the command line"))
	fs.StringVar(&c.authSecretARN, flagAuthSecretARN, "", usage(flagAuthSecretARN,
		"Secrets Manager secret `ARN` holding the AUTH token (the string, or JSON with a password, authToken or token member), instead of --password-file"))
	fs.BoolVar(&c.allowPlaintextAuth, flagAllowPlain, false, usage(flagAllowPlain,
		"send the AUTH token with --tls=false, in clear (refused without it)"))
	fs.IntVar(&c.db, flagDB, 0, usage(flagDB, "database `index`"))
	intRange(fs, flagDB, 0, maxDB, "")
	for _, name := range connFlagOrder {
		_ = fs.SetAnnotation(name, envAnnotation, []string{connEnv[name]})
	}
	return c
}

// maxDB is the highest --db accepted: Redis's databases setting has no
// documented ceiling, but an index beyond this is a typo.
const maxDB = 1 << 16

// envAnnotation marks a flag with the variable it falls back to.
const envAnnotation = "redisha_env"

// applyEnv sets every connection flag not given on the command line from
// its environment variable, when that is set.
func (c *connFlags) applyEnv(getenv func(string) string) error {
	c.fromEnv = map[string]string{}
	for _, name := range connFlagOrder {
		f := c.fs.Lookup(name)
		v := getenv(connEnv[name])
		if f == nil || f.Changed || v == "" {
			continue
		}
		if err := f.Value.Set(v); err != nil {
			return usagef("%s=%q: %v: give a value as for --%s", connEnv[name], v, err, name)
		}
		// The variable is held to the flag's range, as the flag was.
		if b, ok := boundOf(f); ok {
			if n, _ := flagNumber(f); !b.accepts(n) {
				return usagef("%s=%q is out of range: give %s, as for --%s", connEnv[name], v, b.describe(f), name)
			}
		}
		c.fromEnv[name] = connEnv[name]
	}
	return nil
}

// flagName names the flag, and the variable when the value came from it.
func (c *connFlags) flagName(name string) string {
	if env, ok := c.fromEnv[name]; ok {
		return "--" + name + " (from " + env + ")"
	}
	return "--" + name
}

// config resolves the flags, reads the password file and validates the
// result, the CA file included. Every error is a *UsageError naming the
// flag (and the variable, when the value came from one).
func (c *connFlags) config(getenv func(string) string, timeout time.Duration) (redisconn.Config, error) {
	if err := c.applyEnv(getenv); err != nil {
		return redisconn.Config{}, err
	}
	if c.addr == "" {
		return redisconn.Config{}, usagef("--addr is required: give the endpoint as host:port, e.g. --addr redis.internal:6379 (or set %s)", connEnv[flagAddr])
	}
	cfg := redisconn.Config{
		Addr: c.addr, TLS: c.tls, TLSServerName: c.tlsServerName, TLSCAFile: c.tlsCAFile,
		Username: c.user, DB: c.db, DialTimeout: timeout, IOTimeout: timeout,
	}
	if c.passwordFile != "" && c.authSecretARN != "" {
		return cfg, usagef("%s and %s both give the AUTH token: keep one", c.flagName(flagPasswordFile), c.flagName(flagAuthSecretARN))
	}
	if pf := c.passwordFile; pf != "" {
		pw, err := readPasswordFile(pf)
		if err != nil {
			return cfg, usagef("%s: %w", c.flagName(flagPasswordFile), err)
		}
		cfg.Password = pw
	}
	if (c.passwordFile != "" || c.authSecretARN != "") && !c.tls && !c.allowPlaintextAuth {
		// The token is the first thing a connection sends (HELLO ... AUTH):
		// without TLS anyone on the path reads it.
		return cfg, usagef("%s is off, so the AUTH token would cross the network in clear: turn TLS on (drop --tls=false), or give --%s for a server that has no TLS",
			c.flagName(flagTLS), flagAllowPlain)
	}
	if arn := c.authSecretARN; arn != "" {
		pw, err := readAuthSecret(arn, timeout)
		if err != nil {
			return cfg, usagef("%s: %w", c.flagName(flagAuthSecretARN), err)
		}
		cfg.Password = pw
	}
	if err := cfg.Validate(); err != nil {
		return cfg, c.usageErr(err)
	}
	// The CA file is read now: a missing or non-PEM bundle is bad usage,
	// not a run of failed handshakes.
	if _, err := cfg.TLSConfig(); err != nil {
		return cfg, usagef("%s: %w: give a PEM bundle of the CAs to trust", c.flagName(flagTLSCAFile), err)
	}
	return cfg, nil
}

// usageErr turns a redisconn validation error into a usage error that names
// the flag instead of the config field.
func (c *connFlags) usageErr(err error) error {
	var fe *redisconn.FieldError
	if errors.As(err, &fe) {
		if name, ok := fieldFlags[fe.Field]; ok {
			return usagef("%s %w", c.flagName(name), fe.Err)
		}
	}
	return &UsageError{Err: err}
}

// noArgs refuses positional arguments: every command takes flags only.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q: %s takes flags only (see '%s --help')", args[0], cmd.Name(), cmd.CommandPath())
	}
	return nil
}

// readPasswordFile reads the AUTH token from path, refusing a file that
// its group or others may read or write: the token is the datastore's key.
func readPasswordFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("%s has mode %04o, so its group or others may read the AUTH token: chmod 600 %s", path, perm, path)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return "", err
	}
	// Secrets are often saved with a trailing newline or spaces; the token
	// itself never has white space around it.
	pw := strings.TrimSpace(string(b))
	if pw == "" {
		return "", fmt.Errorf("%s is empty: put the AUTH token in it", path)
	}
	return pw, nil
}

// readAuthSecret fetches the AUTH token from the Secrets Manager secret arn
// in the ARN's region, with the default AWS credential chain (and
// AWS_ENDPOINT_URL_SECRETS_MANAGER, for a VPC endpoint or a local one).
func readAuthSecret(arn string, timeout time.Duration) (string, error) {
	parsed, err := awsarn.Parse(arn)
	if err != nil || parsed.Service != "secretsmanager" || parsed.Region == "" {
		return "", fmt.Errorf("%q is not a Secrets Manager secret ARN: give e.g. arn:aws:secretsmanager:us-east-1:123456789012:secret:redisha-auth-AbCdEf", arn)
	}
	if timeout <= 0 {
		timeout = redisconn.DefaultTimeout
	}
	// The secret is read before anything runs; a few times the Redis
	// timeout leaves room for the SDK's retries.
	ctx, cancel := context.WithTimeout(context.Background(), 5*timeout)
	defer cancel()
	ac, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(parsed.Region))
	if err != nil {
		return "", fmt.Errorf("load AWS configuration: %w", err)
	}
	tok, err := secret.FromSecretsManager(secretsmanager.NewFromConfig(ac), arn, secret.DefaultMaxAge).Token(ctx)
	if err != nil {
		return "", fmt.Errorf("%w: check the ARN and that your role may secretsmanager:GetSecretValue on it", err)
	}
	return tok, nil
}
