package deployment

import (
	"errors"
	"fmt"

	"github.com/redisha/redisha/internal/config"
	"github.com/redisha/redisha/internal/promoter"
)

// The contract between the stacks and the functions they deploy: each
// function's environment is its runtime's own Config written by the
// runtime's own Env, and every value the context controls is validated at
// synth by the runtime's own FromEnv.

// contextKeyOf names the context key behind each variable the context
// controls, for refusals.
var contextKeyOf = map[string]string{
	config.EnvCheckTimeout: "checkTimeout",
	// The function's timeout is fixed; the check timeout is what the
	// context changes to fit in it.
	config.EnvFunctionTimeout: "checkTimeout",
	config.EnvMetricsMode:     "metricsMode",
	config.EnvDimensions:      "primaryReplicationGroupId/secondaryReplicationGroupId",
	config.EnvAddr:            "port",
}

// standInTarget is a region's deploy-time values in the right shapes, for
// validating its functions' environments at synth.
func standInTarget(s Settings, r Region) Target {
	return Target{
		Addr:            fmt.Sprintf("master.%s.standin.cache.amazonaws.com:%d", r.GroupID, s.Port),
		ServerName:      "master." + r.GroupID + ".standin.cache.amazonaws.com",
		SecretARN:       "arn:aws:secretsmanager:" + r.Name + ":" + s.Account + ":secret:standin",
		HeartbeatKeyARN: "arn:aws:secretsmanager:" + r.Name + ":" + s.Account + ":secret:standin-key",
		DatastoreID:     "standin-" + s.GlobalIDSuffix,
		TopicARN:        "arn:aws:sns:" + r.Name + ":" + s.Account + ":standin",
	}
}

// runtimeRefusals runs both checkers' environments through config.FromEnv,
// with stand-ins for what only deploy knows (endpoints, secret ARNs), and
// returns each refusal under the context key that caused it. raw holds the
// values as given in the context, to quote them.
func runtimeRefusals(d Deployment, raw map[string]string) []error {
	var errs []error
	seen := map[string]bool{}
	for _, r := range d.Regions {
		t := standInTarget(d.Settings, r)
		env := r.CheckerFor(t).Env()
		env[config.EnvAWSRegion] = r.Name // Lambda sets it
		_, err := config.FromEnv(func(k string) string { return env[k] })
		for _, fe := range envErrors(err) {
			key := contextKeyOf[fe.Name]
			if key == "" {
				key = fe.Name
			}
			v, ok := raw[key]
			if !ok {
				v = env[fe.Name]
			}
			msg := fmt.Sprintf("context %q = %v: the checker refuses it at start: %v", key, v, fe)
			if !seen[msg] {
				seen[msg] = true
				errs = append(errs, errors.New(msg))
			}
		}
	}
	return errs
}

// envErrors are the variables' refusals err joins; an error of another
// kind is kept under an empty name.
func envErrors(err error) []*config.EnvError {
	if err == nil {
		return nil
	}
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	out := make([]*config.EnvError, 0, len(errs))
	for _, e := range errs {
		var ee *config.EnvError
		if !errors.As(e, &ee) {
			ee = config.NewEnvError("", e.Error())
		}
		out = append(out, ee)
	}
	return out
}

// promoterRefusals runs both promoters' environments through
// promoter.ConfigFromEnv, the runtime's own validation, with stand-ins for
// what only deploy knows, and checks that the function's timeout (above
// PROMOTE_TIMEOUT) is one Lambda allows.
func promoterRefusals(d Deployment) []error {
	var errs []error
	for _, r := range d.Regions {
		c := r.PromoterFor(standInTarget(d.Settings, r))
		env := c.Environment()
		env[promoter.EnvRegion] = r.Name // Lambda sets it
		if _, err := promoter.ConfigFromEnv(func(k string) string { return env[k] }); err != nil {
			errs = append(errs, fmt.Errorf("the promoter in %s refuses its environment: %v", r.Name, err))
		}
		if t := PromoterFunctionTimeout(c); t > MaxLambdaTimeout {
			errs = append(errs, fmt.Errorf("the promoter's timeout %v (PROMOTE_TIMEOUT %v and its calls) is over Lambda's %v: lower PROMOTE_TIMEOUT",
				t, c.PromoteTimeout, MaxLambdaTimeout))
		}
	}
	return errs
}
