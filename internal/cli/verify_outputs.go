package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"

	"github.com/redisha/redisha/internal/deployment"
)

// deployedStack is one of a deployment's stacks: where it is and the
// outputs verify takes from it, each with the flag it stands for.
type deployedStack struct {
	name, region string
	outputs      map[string]*string // output key → the flag's value
}

// outputValue is the value of output key: the key itself, or else the
// shortest id that is the key under a construct (so HealthCheckId is not
// SecondaryHealthCheckId).
func outputValue(outputs map[string]string, key string) (string, bool) {
	if v, ok := outputs[key]; ok {
		return v, true
	}
	best, found := "", ""
	for id, v := range outputs {
		if deployment.IsOutput(id, key) && (found == "" || len(id) < len(found)) {
			best, found = v, id
		}
	}
	return best, found != ""
}

// readStackOutputs fills, from each stack's outputs (CloudFormation
// DescribeStacks, read-only), the values whose flags were not given.
// given says whether a value's flag was given.
func readStackOutputs(ctx context.Context, stacks []deployedStack, timeout time.Duration, given func(*string) bool) error {
	for _, st := range stacks {
		cfg, err := loadAWS(ctx, st.region, timeout)
		if err != nil {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, timeout)
		out, err := cloudformation.NewFromConfig(cfg).DescribeStacks(cctx, &cloudformation.DescribeStacksInput{StackName: aws.String(st.name)})
		cancel()
		if err != nil {
			return fmt.Errorf("--stack-outputs: read stack %s in %s (cloudformation:DescribeStacks): %w", st.name, st.region, err)
		}
		if len(out.Stacks) != 1 {
			return fmt.Errorf("--stack-outputs: %d stacks named %s in %s", len(out.Stacks), st.name, st.region)
		}
		got := map[string]string{}
		for _, o := range out.Stacks[0].Outputs {
			got[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
		}
		for key, dst := range st.outputs {
			if v, ok := outputValue(got, key); ok && !given(dst) {
				*dst = v
			}
		}
	}
	return nil
}
