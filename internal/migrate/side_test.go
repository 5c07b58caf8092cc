package migrate

import "testing"

// A cluster is recognised from INFO server on both engines: Redis OSS and
// Valkey 7.2 say redis_mode, Valkey 8 says server_mode (and redis_mode
// only with extended-redis-compatibility yes). The Valkey answers are
// transcribed from Valkey 8.0.1's source (server.c, genValkeyInfoString);
// no valkey-server runs here (docs/valkey.md).
func TestClusterModeOfEitherEngine(t *testing.T) {
	for name, c := range map[string]struct {
		info string
		want bool
	}{
		"redis cluster":       {"# Server\r\nredis_version:7.0.15\r\nredis_mode:cluster\r\nos:Linux\r\n", true},
		"redis standalone":    {"# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n", false},
		"valkey 8 cluster":    {"# Server\r\nredis_version:7.2.4\r\nserver_name:valkey\r\nvalkey_version:8.0.1\r\nserver_mode:cluster\r\n", true},
		"valkey 8 standalone": {"# Server\r\nredis_version:7.2.4\r\nserver_name:valkey\r\nvalkey_version:8.0.1\r\nserver_mode:standalone\r\n", false},
		"valkey 8 compatible": {"# Server\r\nredis_version:7.2.4\r\nserver_name:valkey\r\nvalkey_version:8.0.1\r\nredis_mode:cluster\r\nserver_mode:cluster\r\n", true},
		"valkey 7.2 cluster":  {"# Server\r\nredis_version:7.2.4\r\nserver_name:valkey\r\nvalkey_version:7.2.5\r\nredis_mode:cluster\r\n", true},
	} {
		if got := clusterMode(c.info); got != c.want {
			t.Errorf("%s: cluster = %v, want %v", name, got, c.want)
		}
	}
}
