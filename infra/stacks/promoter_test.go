package stacks

import (
	"github.com/redisha/redisha/internal/deployment"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/redisha/redisha/internal/promoter"
	"github.com/redisha/redisha/internal/promoter/latch"
)

// promoters returns the promoter functions of a template: those whose
// environment names a Global Datastore.
func promoters(tp assertions.Template) []map[string]any {
	return functionsWith(tp, promoter.EnvLatchTable)
}

// autoMode lets the promoters fail over by themselves.
var autoMode = map[string]any{"promoterMode": "auto"}

// Every promoter's environment, as synthesized, passes the runtime's own
// validation (promoter.ConfigFromEnv, with AWS_REGION as Lambda sets it)
// and reads back as the configuration the stack meant; the function's
// timeout leaves a whole promotion room. With endpoint checks each promoter
// reads the other region's witness (PEER_WITNESS) and accepts, in advance,
// the loss the witness dates for a silent region (SILENT_MAX_DATA_LOSS: the
// model's witness resolution, 40 s with the defaults); with alarm checks
// there is no witness to read.
func TestPromoterEnvironmentPassesTheRuntimeValidation(t *testing.T) {
	synth(t)
	settings, err := deployment.Load(ctxOf(map[string]any{"account": "123456789012"}), "")
	if err != nil {
		t.Fatal(err)
	}
	variants := map[string]synthesized{"defaults": defaults, "auto": buildShared(t, autoMode), "alarm": buildShared(t, alarmChecks)}
	for name, s := range variants {
		for stack, w := range map[string]struct{ region, group, peer string }{
			"primary": {"us-east-1", "redis-primary", "us-west-2"}, "secondary": {"us-west-2", "redis-secondary", "us-east-1"},
		} {
			fns := promoters(s.tpl[stack])
			if len(fns) != 1 {
				t.Fatalf("%s/%s: %d promoters", name, stack, len(fns))
			}
			vars := fns[0]["Environment"].(map[string]any)["Variables"].(map[string]any)
			env := map[string]string{promoter.EnvRegion: w.region}
			for k, v := range vars {
				env[k] = standIn(t, s.tpl[stack], v)
			}
			if _, ok := vars[promoter.EnvRegion]; ok {
				t.Errorf("%s/%s: the template sets AWS_REGION, which Lambda reserves", name, stack)
			}
			c, err := promoter.ConfigFromEnv(func(k string) string { return env[k] })
			if err != nil {
				t.Errorf("%s/%s: the promoter would refuse its environment %v:\n%v", name, stack, env, err)
				continue
			}
			mode := map[string]promoter.Mode{"defaults": promoter.ModeAdvise, "auto": promoter.ModeAuto, "alarm": promoter.ModeAdvise}[name]
			witness, silent := w.peer+".witness.redis.internal", settings.WitnessResolution()
			if name == "alarm" {
				witness, silent = "", 0
			}
			if c.PeerWitness != witness || c.Bounds.SilentMaxDataLoss != silent {
				t.Errorf("%s/%s: PEER_WITNESS %q, SILENT_MAX_DATA_LOSS %v; want %q, %v", name, stack, c.PeerWitness, c.Bounds.SilentMaxDataLoss, witness, silent)
			}
			if c.GroupID != w.group || c.PeerRegion != w.peer || c.PeerAlarm != deployment.WritableAlarmName("redisha", w.peer) || c.Mode != mode ||
				c.DatastoreID == "" || c.LatchTable == "" || c.TopicARN == "" || c.AuthSecretARN == "" || !c.Redis.TLS || c.KeyPrefix != "healthcheck:" {
				t.Errorf("%s/%s: promoter config %+v", name, stack, c)
			}
			if timeout := time.Duration(fns[0]["Timeout"].(float64)) * time.Second; timeout <= c.PromoteTimeout+c.CallTimeout {
				t.Errorf("%s/%s: function timeout %v leaves no room for PROMOTE_TIMEOUT %v and the run's calls", name, stack, timeout, c.PromoteTimeout)
			}
		}
	}
}

// A promoter refused by its runtime stops the synth with the context key.
func TestPromoterModeIsValidatedAtSynth(t *testing.T) {
	if _, err := deployment.Load(ctxOf(map[string]any{"promoterMode": "always"}), "123456789012"); err == nil || !strings.Contains(err.Error(), `"promoterMode"`) {
		t.Errorf("promoterMode=always: %v", err)
	}
}

// The latch table: the schema internal/promoter/latch reads, in the region, on
// demand, recoverable, kept when the stack goes.
func TestPromoterLatchTable(t *testing.T) {
	_, tpl := synth(t)
	for _, stack := range []string{"primary", "secondary"} {
		has(t, tpl[stack], jsii.String("AWS::DynamoDB::Table"), obj(map[string]any{
			"KeySchema":                        []any{map[string]any{"AttributeName": latch.KeyAttribute, "KeyType": "HASH"}},
			"AttributeDefinitions":             []any{map[string]any{"AttributeName": latch.KeyAttribute, "AttributeType": "S"}},
			"BillingMode":                      "PAY_PER_REQUEST",
			"PointInTimeRecoverySpecification": map[string]any{"PointInTimeRecoveryEnabled": true},
		}))
		tables := *tpl[stack].FindResources(jsii.String("AWS::DynamoDB::Table"), nil)
		for id, r := range tables {
			if (*r)["DeletionPolicy"] != "Retain" {
				t.Errorf("%s: latch table %s is deleted with the stack", stack, id)
			}
		}
	}
}

// The promoter's role: each action on its one resource; the only change it
// can make is the failover of this Global Datastore.
func TestPromoterLeastPrivilege(t *testing.T) {
	_, tpl := synth(t)
	for stack, w := range map[string]struct{ region, group, peer string }{
		"primary": {"us-east-1", "redis-primary", "us-west-2"}, "secondary": {"us-west-2", "redis-secondary", "us-east-1"},
	} {
		grants := map[string]string{} // action → resource, as JSON
		for _, p := range resources(tpl[stack], "AWS::IAM::Policy") {
			if !strings.Contains(jsonOf(p["Roles"]), "PromoterRole") {
				continue
			}
			for _, st := range p["PolicyDocument"].(map[string]any)["Statement"].([]any) {
				st := st.(map[string]any)
				if st["Effect"] != "Allow" {
					// The one Deny: ENI changes from the function's own code.
					if st["Sid"] != "DenyEniChangesFromFunctionCode" {
						t.Errorf("%s: statement %v", stack, st)
					}
					continue
				}
				actions, ok := st["Action"].([]any)
				if !ok {
					actions = []any{st["Action"]}
				}
				for _, a := range actions {
					grants[a.(string)] = jsonOf(st["Resource"])
				}
			}
		}
		want := map[string]string{
			"elasticache:FailoverGlobalReplicationGroup":  ":globalreplicationgroup:",
			"elasticache:DescribeGlobalReplicationGroups": ":globalreplicationgroup:",
			"elasticache:DescribeReplicationGroups":       ":elasticache:" + w.region + ":123456789012:replicationgroup:" + w.group,
			"dynamodb:GetItem":                            `"PromoterLatch`,
			"dynamodb:PutItem":                            `"PromoterLatch`,
			"sns:Publish":                                 `"Ref":"Alarms`,
			"kms:GenerateDataKey*":                        `"AlarmTopicKey`,
			"kms:Decrypt":                                 `"AlarmTopicKey`,
			"cloudwatch:DescribeAlarms":                   ":cloudwatch:" + w.peer + ":123456789012:alarm:" + deployment.WritableAlarmName("redisha", w.peer),
			"secretsmanager:GetSecretValue":               "AuthToken",
			"logs:CreateLogStream":                        `"PromoterLogs`,
			"logs:PutLogEvents":                           `"PromoterLogs`,
		}
		// The ENI actions and cloudwatch:GetMetricData (the peer checker's
		// HeartbeatWritten) have no resource-level permissions.
		eni := []string{"ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DeleteNetworkInterface",
			"ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses", "cloudwatch:GetMetricData"}
		for action, res := range grants {
			switch {
			case slices.Contains(eni, action):
				if res != `"*"` {
					t.Errorf("%s: %s on %s", stack, action, res)
				}
			case want[action] == "":
				t.Errorf("%s: the promoter may %s on %s, which it does not need", stack, action, res)
			case !strings.Contains(res, want[action]) || strings.Contains(res, `"*"`):
				t.Errorf("%s: %s on %s, want only %s", stack, action, res, want[action])
			}
		}
		for action := range want {
			if _, ok := grants[action]; !ok {
				t.Errorf("%s: the promoter may not %s", stack, action)
			}
		}
	}
}
