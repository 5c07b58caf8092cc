package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/redisha/redisha/internal/deployment"
	"net"
	"path"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// KMSAPI is the read-only KMS call verify makes.
type KMSAPI interface {
	GetKeyPolicy(ctx context.Context, in *kms.GetKeyPolicyInput, optFns ...func(*kms.Options)) (*kms.GetKeyPolicyOutput, error)
}

// IAMAPI is the dry-run IAM call verify makes.
type IAMAPI interface {
	SimulatePrincipalPolicy(ctx context.Context, in *iam.SimulatePrincipalPolicyInput,
		optFns ...func(*iam.Options)) (*iam.SimulatePrincipalPolicyOutput, error)
}

// CNAMEResolver follows a name's CNAME chain; *net.Resolver is one.
type CNAMEResolver interface {
	LookupCNAME(ctx context.Context, host string) (string, error)
}

// Permission is one action the promoter needs, on one resource ("*": any).
type Permission struct {
	Action, Resource string
}

// cloudWatchNeeds are what CloudWatch must be allowed on an alarm topic's
// key to publish to the topic: without them the alarm fires and nobody is
// paged (the alarm history shows the failed action).
var cloudWatchNeeds = []string{"kms:Decrypt", "kms:GenerateDataKey"}

// topicKey checks that the alarm topic's key policy lets CloudWatch use
// the key.
func (t Target) topicKey(ctx context.Context, m Member) Result {
	r := Result{Check: "topic key policy", Region: m.Region}
	cctx, cancel := context.WithTimeout(ctx, t.CallTimeout)
	out, err := m.KMS.GetKeyPolicy(cctx, &kms.GetKeyPolicyInput{KeyId: aws.String(m.TopicKey), PolicyName: aws.String("default")})
	cancel()
	if err != nil {
		r.Detail = fmt.Sprintf("GetKeyPolicy %s: %v", m.TopicKey, err)
		return r
	}
	missing, err := serviceMissing(aws.ToString(out.Policy), "cloudwatch.amazonaws.com", cloudWatchNeeds)
	switch {
	case err != nil:
		r.Detail = fmt.Sprintf("key %s: policy: %v", m.TopicKey, err)
	case len(missing) > 0:
		r.Detail = fmt.Sprintf("key %s does not allow the service cloudwatch.amazonaws.com %s: the alarms cannot publish to the topic; "+
			"add a statement allowing it kms:Decrypt and kms:GenerateDataKey*", m.TopicKey, strings.Join(missing, ", "))
	default:
		r.OK, r.Detail = true, fmt.Sprintf("key %s allows cloudwatch.amazonaws.com kms:Decrypt and kms:GenerateDataKey*", m.TopicKey)
	}
	return r
}

// policyStatement is the part of an IAM/KMS policy statement verify reads;
// Principal.Service and Action are a string or a list.
type policyStatement struct {
	Effect    string
	Principal json.RawMessage
	Action    json.RawMessage
}

func stringOrList(raw json.RawMessage) []string {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}
	}
	var many []string
	_ = json.Unmarshal(raw, &many)
	return many
}

// serviceMissing returns the actions of want that no Allow statement of
// policy grants to the service principal (an explicit Deny to it removes
// them again).
func serviceMissing(policy, service string, want []string) ([]string, error) {
	var doc struct{ Statement json.RawMessage }
	if err := json.Unmarshal([]byte(policy), &doc); err != nil {
		return nil, err
	}
	var stmts []policyStatement
	if err := json.Unmarshal(doc.Statement, &stmts); err != nil {
		var one policyStatement
		if err := json.Unmarshal(doc.Statement, &one); err != nil {
			return nil, fmt.Errorf("Statement: %w", err)
		}
		stmts = []policyStatement{one}
	}
	allowed, denied := map[string]bool{}, map[string]bool{}
	for _, s := range stmts {
		var p struct{ Service json.RawMessage }
		if string(s.Principal) != `"*"` && (json.Unmarshal(s.Principal, &p) != nil || !matchAny(stringOrList(p.Service), service)) {
			continue
		}
		for _, a := range want {
			if !matchAny(stringOrList(s.Action), a) {
				continue
			}
			switch s.Effect {
			case "Allow":
				allowed[a] = true
			case "Deny":
				denied[a] = true
			}
		}
	}
	var missing []string
	for _, a := range want {
		if !allowed[a] || denied[a] {
			missing = append(missing, a)
		}
	}
	return missing, nil
}

// matchAny reports whether one of the patterns (with * wildcards, case
// insensitive as IAM actions are) matches s.
func matchAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(s)); ok {
			return true
		}
	}
	return false
}

// promoter simulates the promoter role's policies for each action it needs
// (IAM SimulatePrincipalPolicy: a dry run, nothing is called) and checks
// that each is allowed.
func (t Target) promoter(ctx context.Context, m Member) Result {
	r := Result{Check: "promoter permissions", Region: m.Region}
	var denied []string
	for _, p := range m.Permissions {
		in := &iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String(m.PromoterRole), ActionNames: []string{p.Action}}
		if p.Resource != "" && p.Resource != "*" {
			in.ResourceArns = []string{p.Resource}
		}
		cctx, cancel := context.WithTimeout(ctx, t.CallTimeout)
		out, err := m.IAM.SimulatePrincipalPolicy(cctx, in)
		cancel()
		if err != nil {
			r.Detail = fmt.Sprintf("SimulatePrincipalPolicy %s %s: %v", m.PromoterRole, p.Action, err)
			return r
		}
		ok := len(out.EvaluationResults) > 0
		for _, e := range out.EvaluationResults {
			if e.EvalDecision != "allowed" {
				ok = false
				denied = append(denied, fmt.Sprintf("%s on %s: %s", p.Action, p.Resource, e.EvalDecision))
			}
		}
		if !ok && len(out.EvaluationResults) == 0 {
			denied = append(denied, p.Action+": no evaluation")
		}
	}
	if len(denied) > 0 {
		r.Detail = fmt.Sprintf("%s is not allowed %s: the promoter cannot fail over; redeploy the promoter stack",
			m.PromoterRole, strings.Join(denied, "; "))
		return r
	}
	r.OK, r.Detail = true, fmt.Sprintf("%s is allowed all %d actions it needs (simulated)", m.PromoterRole, len(m.Permissions))
	return r
}

// resolve checks that the applications' name ends, through its CNAME
// chain, at the endpoint of the member that is PRIMARY now.
func (t Target) resolve(ctx context.Context, primary string) Result {
	r := Result{Check: "name resolves to primary", Region: "dns"}
	if primary == "" {
		r.Detail = "no member is PRIMARY with a primary endpoint (see the member checks): cannot tell what " + t.Resolve + " should resolve to"
		return r
	}
	res := t.Resolver
	if res == nil {
		res = net.DefaultResolver
	}
	end, err := t.chainEnd(ctx, res)
	switch {
	case err != nil:
		r.Detail = fmt.Sprintf("resolve %s: %v (run verify inside the VPC, where the private zone answers)", t.Resolve, err)
	case !strings.EqualFold(end, strings.TrimSuffix(primary, ".")):
		r.Detail = fmt.Sprintf("%s resolves to %s, but the primary is %s: clients write to the wrong region "+
			"(check the failover records' health checks)", t.Resolve, end, primary)
	default:
		r.OK, r.Detail = true, fmt.Sprintf("%s resolves to %s, the primary's endpoint", t.Resolve, end)
	}
	return r
}

// chainEnd follows the CNAME chain of t.Resolve hop by hop (a resolver may
// return one hop only) to its end, at most maxHops hops.
func (t Target) chainEnd(ctx context.Context, res CNAMEResolver) (string, error) {
	const maxHops = 8
	name := strings.TrimSuffix(t.Resolve, ".")
	for range maxHops {
		cctx, cancel := context.WithTimeout(ctx, t.CallTimeout)
		next, err := res.LookupCNAME(cctx, name)
		cancel()
		if err != nil {
			return "", err
		}
		next = strings.TrimSuffix(next, ".")
		if strings.EqualFold(next, name) {
			return name, nil
		}
		name = next
	}
	return "", fmt.Errorf("CNAME chain longer than %d hops (a loop?)", maxHops)
}

// PromoterPermissions are the actions the promoter of region needs (see
// infra/stacks/promoter.go), each on the resource its policy names:
// failing over and describing the Global Datastore globalID, reading and
// writing its latch table, publishing to its topic (and using the topic's
// key, when topicKey is a key ARN), and reading the peer region's
// writable alarm (redisha-<peer>-writable). Partition and account come
// from roleARN.
func PromoterPermissions(roleARN, region, peer, globalID, table, topic, topicKey string) ([]Permission, error) {
	// arn:aws:iam::123456789012:role/name
	parts := strings.SplitN(roleARN, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "iam" || parts[4] == "" || !strings.HasPrefix(parts[5], "role/") {
		return nil, fmt.Errorf("promoter role %q: give the role's ARN, arn:aws:iam::ACCOUNT:role/NAME", roleARN)
	}
	partition, account := parts[1], parts[4]
	global := fmt.Sprintf("arn:%s:elasticache::%s:globalreplicationgroup:%s", partition, account, globalID)
	tableARN := fmt.Sprintf("arn:%s:dynamodb:%s:%s:table/%s", partition, region, account, table)
	alarm := fmt.Sprintf("arn:%s:cloudwatch:%s:%s:alarm:%s", partition, peer, account, deployment.WritableAlarmName(deployment.DefaultName, peer))
	ps := []Permission{
		{"elasticache:FailoverGlobalReplicationGroup", global},
		{"elasticache:DescribeGlobalReplicationGroups", global},
		{"dynamodb:GetItem", tableARN},
		{"dynamodb:PutItem", tableARN},
		{"sns:Publish", topic},
		{"cloudwatch:DescribeAlarms", alarm},
	}
	if strings.HasPrefix(topicKey, "arn:") {
		ps = append(ps, Permission{"kms:GenerateDataKey", topicKey}, Permission{"kms:Decrypt", topicKey})
	}
	return ps, nil
}
