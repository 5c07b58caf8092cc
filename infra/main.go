// Command infra is redisha's CDK app (`cdk deploy --all`, run by cdk.json):
// see infra/stacks and docs/infra.md.
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/redisha/redisha/infra/stacks"
)

func main() {
	defer jsii.Close()
	app := awscdk.NewApp(nil)
	s, err := stacks.Load(func(k string) any { return app.Node().TryGetContext(jsii.String(k)) }, os.Getenv("CDK_DEFAULT_ACCOUNT"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "redisha infra: invalid settings:\n%v\n", err)
		os.Exit(1)
	}
	stacks.Build(app, s)
	app.Synth(nil)
}
