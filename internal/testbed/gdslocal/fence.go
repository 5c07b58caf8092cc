package gdslocal

import (
	"testing"

	"github.com/redisha/redisha/internal/sim/eclocal"
)

// Fence starts a local ElastiCache whose datastore (id, members
// redisha-primary in us-east-1 and redisha-secondary in us-west-2) names
// primary as its primary region, and points this process's SDK at it as a
// function in us-east-1 (t.Setenv). setPrimary names another region later:
// a test of the checker's fence moves the role with it.
func Fence(t *testing.T, id, primary string) (ec *eclocal.Server, setPrimary func(region string)) {
	t.Helper()
	ec = eclocal.New(eclocal.Options{})
	t.Cleanup(ec.Close)
	setPrimary = func(region string) {
		role := map[bool]string{true: eclocal.RolePrimary, false: eclocal.RoleSecondary}
		ec.PutDatastore(eclocal.Datastore{ID: id, Members: []eclocal.Member{
			{ReplicationGroupID: "redisha-primary", Region: "us-east-1", Role: role[region == "us-east-1"]},
			{ReplicationGroupID: "redisha-secondary", Region: "us-west-2", Role: role[region == "us-west-2"]}}})
	}
	setPrimary(primary)
	for k, v := range map[string]string{"AWS_ENDPOINT_URL_ELASTICACHE": ec.URL(), "AWS_ACCESS_KEY_ID": "AKIDLOCAL",
		"AWS_SECRET_ACCESS_KEY": "local", "AWS_EC2_METADATA_DISABLED": "true", "AWS_REGION": "us-east-1"} {
		t.Setenv(k, v)
	}
	return ec, setPrimary
}
