package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/redisha/redisha/internal/migrate"
	"github.com/redisha/redisha/internal/redisconn"
)

func newMigrateCmd(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate copy|compare|follow --from HOST:PORT --to HOST:PORT [flags]",
		Short: "Move the data of one live Redis deployment into another: copy, compare, follow",
		Long: `Moves data between two live deployments (standalone or cluster, TLS and AUTH on either side) without
replication, which ElastiCache blocks:

  copy     SCAN + DUMP/RESTORE every key (TTLs to the millisecond), resumable, rate-limited
  compare  key by key, per-type digests, differences as a table or JSON
  follow   keep the target current from the source's keyspace notifications

The usual order: start the application's dual-write (package dualwrite) or 'migrate copy --follow',
then 'migrate compare', then move reads. See docs/migration.md.`,
		Args: noArgs,
	}
	cmd.AddCommand(newMigrateCopyCmd(env), newMigrateCompareCmd(env), newMigrateFollowCmd(env))
	return cmd
}

// sideFlags are the connection flags of one side of a migration: --from
// (source) or --to (target), each with its own TLS and AUTH settings.
type sideFlags struct {
	name                                               string // "from" or "to"
	addr, tlsServerName, tlsCAFile, user, passwordFile string
	tls                                                bool
	db                                                 int
}

func addSideFlags(cmd *cobra.Command, name, what string) *sideFlags {
	s := &sideFlags{name: name}
	fs := cmd.Flags()
	fs.StringVar(&s.addr, name, "", what+" endpoint `host:port` (required); a cluster is detected, any node will do")
	fs.BoolVar(&s.tls, name+"-tls", false, "connect to the "+what+" with TLS (certificate verification always on)")
	fs.StringVar(&s.tlsServerName, name+"-tls-server-name", "", "`name` to verify in the "+what+"'s certificate (default: each node's host)")
	fs.StringVar(&s.tlsCAFile, name+"-tls-ca-file", "", "PEM `file` of extra CAs to trust for the "+what)
	fs.StringVar(&s.user, name+"-user", "", "ACL `username` on the "+what)
	fs.StringVar(&s.passwordFile, name+"-password-file", "", "`file` holding the "+what+"'s AUTH token (never on the command line)")
	fs.IntVar(&s.db, name+"-db", 0, "database `index` on a standalone "+what)
	intRange(fs, name+"-db", 0, maxDB, "")
	return s
}

// config validates the side's flags; errors are *UsageError naming the flag.
func (s *sideFlags) config(timeout time.Duration) (redisconn.Config, error) {
	if s.addr == "" {
		return redisconn.Config{}, usagef("--%s is required: give the endpoint as host:port, e.g. --%s redis.internal:6379", s.name, s.name)
	}
	cfg := redisconn.Config{Addr: s.addr, TLS: s.tls, TLSServerName: s.tlsServerName, TLSCAFile: s.tlsCAFile,
		Username: s.user, DB: s.db, DialTimeout: timeout, IOTimeout: timeout}
	if s.passwordFile != "" {
		pw, err := readPasswordFile(s.passwordFile) // the same rules as --password-file: chmod 600, not empty
		if err != nil {
			return cfg, usagef("--%s-password-file: %w", s.name, err)
		}
		cfg.Password = pw
	}
	if err := cfg.Validate(); err != nil {
		return cfg, usagef("--%s: %w", s.name, err)
	}
	if _, err := cfg.TLSConfig(); err != nil {
		return cfg, usagef("--%s-tls-ca-file: %w: give a PEM bundle of the CAs to trust", s.name, err)
	}
	return cfg, nil
}

// migrateConn holds the flags every migrate subcommand shares.
type migrateConn struct {
	from, to *sideFlags
	timeout  time.Duration
	workers  int
}

func addMigrateConn(cmd *cobra.Command, defWorkers int) *migrateConn {
	m := &migrateConn{from: addSideFlags(cmd, "from", "source"), to: addSideFlags(cmd, "to", "target")}
	cmd.Flags().DurationVar(&m.timeout, "timeout", 30*time.Second, "deadline of each dial and each read or write of a batch")
	cmd.Flags().IntVar(&m.workers, "workers", defWorkers, "`batches` in flight at once")
	durationRange(cmd.Flags(), "timeout", time.Millisecond, time.Hour, "")
	intRange(cmd.Flags(), "workers", 1, 1024, "")
	return m
}

// open validates the flags and connects to both sides.
func (m *migrateConn) open(ctx context.Context) (src, dst *migrate.Side, err error) {
	if m.timeout <= 0 {
		return nil, nil, usagef("--timeout must be positive, e.g. --timeout 30s")
	}
	if m.workers <= 0 {
		return nil, nil, usagef("--workers must be at least 1")
	}
	fc, err := m.from.config(m.timeout)
	if err != nil {
		return nil, nil, err
	}
	tc, err := m.to.config(m.timeout)
	if err != nil {
		return nil, nil, err
	}
	if fc.Addr == tc.Addr && fc.DB == tc.DB {
		return nil, nil, usagef("--from and --to are the same endpoint %s: give the target's address with --to", fc.Addr)
	}
	so := migrate.SideOptions{PoolSize: m.workers * 2, IOTimeout: m.timeout}
	octx, cancel := context.WithTimeout(ctx, 2*m.timeout)
	defer cancel()
	if src, err = migrate.Open(octx, "source", fc, so); err != nil {
		return nil, nil, err
	}
	if dst, err = migrate.Open(octx, "target", tc, so); err != nil {
		_ = src.Close()
		return nil, nil, err
	}
	return src, dst, nil
}

// with opens both sides, runs fn on them and closes them.
func (m *migrateConn) with(ctx context.Context, fn func(src, dst *migrate.Side) error) error {
	src, dst, err := m.open(ctx)
	if err != nil {
		return err
	}
	defer src.Close()
	defer dst.Close()
	return fn(src, dst)
}

// liveLine prints a status line that rewrites itself on a terminal and is
// one line per update elsewhere (logs, CI).
type liveLine struct {
	w   io.Writer
	tty bool
}

func newLiveLine(w io.Writer) liveLine { return liveLine{w: w, tty: isTerminal(w)} }

func (l liveLine) show(s string) {
	if l.tty {
		fmt.Fprintf(l.w, "\r\033[K%s", s)
		return
	}
	fmt.Fprintln(l.w, s)
}

// end finishes a rewritten line.
func (l liveLine) end() {
	if l.tty {
		fmt.Fprintln(l.w)
	}
}

func describeSide(s *migrate.Side) string {
	kind := "standalone"
	if s.Cluster {
		kind = fmt.Sprintf("cluster of %d masters", len(s.Shards))
	}
	return fmt.Sprintf("%s %s: redis %s, %s", s.Name, s.Addr, s.Version, kind)
}
