// Package gdslocal is the AWS side of a two-region Global Datastore on
// loopback, for tests and rehearsals: the local ElastiCache endpoint holding
// the datastore and both replication groups, CloudWatch with each region's
// writable alarm, DynamoDB with the promoters' latch table, and SNS. Every
// endpoint speaks the wire the real SDK clients use; Env points a process
// (or config.LoadDefaultConfig) at them.
package gdslocal

import (
	"testing"
	"time"

	"github.com/redisha/redisha/internal/deployment"
	"github.com/redisha/redisha/internal/promoter/latch"
	"github.com/redisha/redisha/internal/sim/cwlocal"
	"github.com/redisha/redisha/internal/sim/ddblocal"
	"github.com/redisha/redisha/internal/sim/eclocal"
	"github.com/redisha/redisha/internal/sim/snslocal"
)

// Region is one member region.
type Region struct {
	// Name, e.g. us-east-1.
	Name string
	// Group is the replication group id.
	Group string
	// Endpoint is its primary endpoint host:port ("" when unknown).
	Endpoint string
}

// Options shape a World; zero fields take the defaults.
type Options struct {
	// Datastore is the Global Datastore id. default: ldgnf-redisha
	Datastore string
	// Primary and Secondary are the members. default: us-east-1
	// redis-primary and us-west-2 redis-secondary
	Primary, Secondary Region
	// LatchTable is the promoters' table. default: the deployed name,
	// deployment.LatchTable(Datastore)
	LatchTable string
	// FailoverDelay and OnFailover: see eclocal.Options.
	FailoverDelay time.Duration
	OnFailover    func(eclocal.Failover) error
}

// Defaults.
const DefaultDatastore = "ldgnf-redisha"

// World is the running endpoints.
type World struct {
	Options
	EC  *eclocal.Server
	CW  *cwlocal.Server
	DDB *ddblocal.Server
	SNS *snslocal.Server
}

// AlarmName is a region's writable alarm: redisha-<region>-writable.
func AlarmName(region string) string {
	return deployment.WritableAlarmName(deployment.DefaultName, region)
}

// Start starts the endpoints with both alarms OK; t's cleanup stops them.
func Start(t testing.TB, o Options) *World {
	t.Helper()
	if o.Datastore == "" {
		o.Datastore = DefaultDatastore
	}
	if o.Primary.Name == "" {
		o.Primary.Name, o.Primary.Group = "us-east-1", "redis-primary"
	}
	if o.Secondary.Name == "" {
		o.Secondary.Name, o.Secondary.Group = "us-west-2", "redis-secondary"
	}
	if o.LatchTable == "" {
		o.LatchTable = deployment.LatchTable(o.Datastore)
	}
	w := &World{Options: o,
		EC:  eclocal.New(eclocal.Options{FailoverDelay: o.FailoverDelay, OnFailover: o.OnFailover}),
		CW:  cwlocal.New(),
		DDB: ddblocal.New(),
		SNS: snslocal.New(),
	}
	t.Cleanup(func() { w.EC.Close(); w.CW.Close(); w.DDB.Close(); w.SNS.Close() })
	w.EC.PutDatastore(eclocal.Datastore{ID: o.Datastore, Members: []eclocal.Member{
		{ReplicationGroupID: o.Primary.Group, Region: o.Primary.Name, Role: eclocal.RolePrimary},
		{ReplicationGroupID: o.Secondary.Group, Region: o.Secondary.Name, Role: eclocal.RoleSecondary},
	}})
	for _, r := range []Region{o.Primary, o.Secondary} {
		w.EC.PutGroup(eclocal.Group{ID: r.Group, Region: r.Name, Endpoint: r.Endpoint})
		w.CW.SetAlarmState(AlarmName(r.Name), "OK")
	}
	w.DDB.CreateTable(o.LatchTable, latch.KeyAttribute)
	return w
}

// Env is the environment that points the SDK at the endpoints, with static
// credentials and no shared configuration files.
func (w *World) Env() map[string]string {
	return map[string]string{
		"AWS_ENDPOINT_URL_ELASTICACHE": w.EC.URL(), "AWS_ENDPOINT_URL_CLOUDWATCH": w.CW.URL(),
		"AWS_ENDPOINT_URL_DYNAMODB": w.DDB.URL(), "AWS_ENDPOINT_URL_SNS": w.SNS.URL(),
		"AWS_ACCESS_KEY_ID": "AKIDLOCAL", "AWS_SECRET_ACCESS_KEY": "local-secret",
		"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true",
	}
}

// Setenv sets Env in t's process environment (restored at cleanup).
func (w *World) Setenv(t *testing.T) {
	for k, v := range w.Env() {
		t.Setenv(k, v)
	}
}
