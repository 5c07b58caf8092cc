#!/usr/bin/env bash
# Synthesizes the CDK app (infra/) into cdk.out without talking to AWS: the
# account is a placeholder unless SYNTH_ACCOUNT is set, credentials and the
# instance metadata service are hidden, the CLI's telemetry, version check
# and notices are off, and lookups are refused (every value the app needs
# is in cdk.json). Extra arguments go to `cdk synth`, e.g. -c replicas=2.
# Expects build/lambda/bootstrap and build/promoter/bootstrap (make build) and node_modules (make deps-node).
set -euo pipefail
cd "$(dirname "$0")/.."

for f in build/lambda/bootstrap build/promoter/bootstrap; do
  if [ ! -f "$f" ]; then
    echo "synth: $f is missing: run make build first" >&2
    exit 1
  fi
done
if [ ! -x node_modules/.bin/cdk ]; then
  echo "synth: the pinned CDK CLI is missing: run make deps-node (npm ci)" >&2
  exit 1
fi

account="${SYNTH_ACCOUNT:-123456789012}"
rm -rf cdk.out
start=$(date +%s.%N)
env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u AWS_PROFILE \
  -u CDK_DEFAULT_ACCOUNT -u CDK_DEFAULT_REGION \
  AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true \
  CDK_DISABLE_CLI_TELEMETRY=true CDK_DISABLE_VERSION_CHECK=1 \
  node_modules/.bin/cdk synth --quiet --no-lookups --no-notices --no-version-reporting \
  -c account="$account" "$@"
end=$(date +%s.%N)
# cdk writes cdk.context.json even when it holds nothing; lookups are off.
[ "$(cat cdk.context.json 2>/dev/null)" = "{}" ] && rm -f cdk.context.json
awk -v n="$(ls cdk.out/*.template.json | wc -l)" -v s="$start" -v e="$end" -v a="$account" \
  'BEGIN { printf "synth: cdk.out (%d templates) in %.1f s, account %s\n", n, e - s, a }'
