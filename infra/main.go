// Command infra is redisha's CDK app (`cdk deploy --all`, run by cdk.json):
// see infra/stacks and docs/infra.md. Besides the templates it writes the
// deployment model they were rendered from, deployment.json, into the same
// folder: the drill, verify and the operator commands read it.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/redisha/redisha/infra/stacks"
	"github.com/redisha/redisha/internal/deployment"
)

func main() {
	defer jsii.Close()
	app := awscdk.NewApp(nil)
	s, err := deployment.Load(func(k string) any { return app.Node().TryGetContext(jsii.String(k)) }, os.Getenv("CDK_DEFAULT_ACCOUNT"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "redisha infra: invalid settings:\n%v\n", err)
		os.Exit(1)
	}
	d := deployment.New(s)
	stacks.Build(app, d)
	app.Synth(nil)
	if err := d.WriteFile(filepath.Join(*app.Outdir(), deployment.ModelFile)); err != nil {
		fmt.Fprintf(os.Stderr, "redisha infra: %v\n", err)
		os.Exit(1)
	}
}
