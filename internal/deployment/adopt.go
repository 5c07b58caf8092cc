package deployment

import (
	"net"
	"regexp"
	"strconv"
	"strings"
)

// Adopt names an existing Global Datastore and its two member groups, so
// the app deploys only what goes around them: checkers, their loops,
// alarms, dashboards, the failover name. Nothing of the datastore is
// created or changed. context: existingGlobalDatastoreId and the keys below.
type Adopt struct {
	GlobalID               string // context: existingGlobalDatastoreId (full id, region prefix included)
	PrimaryEndpoint        string // context: primaryEndpoint: host:port of the primary group's primary endpoint
	SecondaryEndpoint      string // context: secondaryEndpoint: the same, secondary group
	AuthSecretARN          string // context: authSecretArn: the secret holding the AUTH token, primary region
	SecondaryAuthSecretARN string // context: secondaryAuthSecretArn: the same in the secondary region (default: the replica of authSecretArn)
	PrimaryCacheSG         string // context: primaryCacheSecurityGroupId: the primary group's security group; the checker is let in on the port
	SecondaryCacheSG       string // context: secondaryCacheSecurityGroupId: the same, secondary group
}

var (
	globalIDRE = regexp.MustCompile(`^[a-z]{5}-[a-zA-Z][a-zA-Z0-9-]{0,39}$`)
	sgRE       = regexp.MustCompile(`^sg-[0-9a-f]{8,17}$`)
)

// loadAdopt reads the adoption keys when existingGlobalDatastoreId is set,
// and reports what is missing or malformed, each with its key.
func loadAdopt(s *Settings, str func(key, def string) string, bad func(key string, v any, fix string)) {
	id := str("existingGlobalDatastoreId", "")
	if id == "" {
		return
	}
	a := &Adopt{
		GlobalID:          id,
		PrimaryEndpoint:   str("primaryEndpoint", ""),
		SecondaryEndpoint: str("secondaryEndpoint", ""),
		AuthSecretARN:     str("authSecretArn", ""),
		PrimaryCacheSG:    str("primaryCacheSecurityGroupId", ""),
		SecondaryCacheSG:  str("secondaryCacheSecurityGroupId", ""),
	}
	a.SecondaryAuthSecretARN = str("secondaryAuthSecretArn", replicaARN(a.AuthSecretARN, s.SecondaryRegion))
	s.Adopt = a
	if !globalIDRE.MatchString(id) {
		bad("existingGlobalDatastoreId", id, "give the Global Datastore's full id, region prefix included, e.g. ldgnf-redisha")
	}
	for _, e := range []struct{ key, v string }{{"primaryEndpoint", a.PrimaryEndpoint}, {"secondaryEndpoint", a.SecondaryEndpoint}} {
		host, port, err := net.SplitHostPort(e.v)
		if n, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || n != s.Port {
			bad(e.key, e.v, "give the group's primary endpoint as host:port, the port being the port setting ("+strconv.Itoa(s.Port)+
				"), e.g. master.redis-primary.abc123.use1.cache.amazonaws.com:"+strconv.Itoa(s.Port))
		}
	}
	for _, e := range []struct{ key, v, region string }{{"authSecretArn", a.AuthSecretARN, s.PrimaryRegion}, {"secondaryAuthSecretArn", a.SecondaryAuthSecretARN, s.SecondaryRegion}} {
		if !strings.HasPrefix(e.v, "arn:") || strings.Split(e.v, ":")[3] != e.region || !strings.Contains(e.v, ":secretsmanager:") {
			bad(e.key, e.v, "give the ARN of the secret holding the AUTH token in "+e.region+", arn:aws:secretsmanager:"+e.region+":ACCOUNT:secret:NAME")
		}
	}
	for _, e := range []struct{ key, v string }{{"primaryCacheSecurityGroupId", a.PrimaryCacheSG}, {"secondaryCacheSecurityGroupId", a.SecondaryCacheSG}} {
		if !sgRE.MatchString(e.v) {
			bad(e.key, e.v, "give the security group of the existing replication group (sg-…): the checker is let in on the port")
		}
	}
	if s.PrimaryVpcID == "" || s.SecondaryVpcID == "" {
		bad("existingGlobalDatastoreId", id, "an adopted datastore lives in existing VPCs: set primaryVpcId/primarySubnetIds and secondaryVpcId/secondarySubnetIds too")
	}
	if s.Created != nil {
		bad("createdWith", s.Created.Record(), "an adopted datastore is not managed by the stacks: drop createdWith")
	}
}

// replicaARN is the ARN of a secret's replica in region, or "" for an ARN
// that is not one.
func replicaARN(arn, region string) string {
	p := strings.SplitN(arn, ":", 7)
	if len(p) != 7 {
		return ""
	}
	p[3] = region
	return strings.Join(p, ":")
}

// HostOf is the host of host:port.
func HostOf(addr string) string {
	h, _, _ := net.SplitHostPort(addr)
	return h
}
