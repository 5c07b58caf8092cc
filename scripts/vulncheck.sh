#!/usr/bin/env bash
# govulncheck over the whole module, against a pinned copy of the Go
# vulnerability database, gated by .ci/vuln-accepted.
#
# The database is not fetched from vuln.go.dev (which these machines cannot
# reach): it is the OSV files of golang.org/x/vulndb, a module the Go module
# proxy serves, read as they are. govulncheck takes a folder of OSV files as
# a database when it holds no index (x/vuln's internal/client, "hybrid
# source"; v1.9.0 is pinned, and golang.org/x/vulndb/cmd/indexdb builds the
# index should a later version drop that). Pinning both the scanner and the
# database makes a run repeatable; moving VULNDB_VERSION to a newer
# pseudo-version is how the project learns of new advisories.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
GOVULNCHECK_VERSION=${GOVULNCHECK_VERSION:-v1.9.0}
VULNDB_VERSION=${VULNDB_VERSION:-v0.0.0-20261105234957-e22db6528018}

src=$($GO mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
db="$src/data/osv"
[ -d "$db" ] || { echo "vulncheck: golang.org/x/vulndb@$VULNDB_VERSION has no data/osv" >&2; exit 2; }
echo "vulncheck: $(ls "$db" | wc -l) advisories of golang.org/x/vulndb@$VULNDB_VERSION"

mkdir -p build/vulncheck
out=build/vulncheck/govulncheck.json
$GO run "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION" -db "file://$db" -format json ./... > "$out"
$GO run ./internal/tools/vulngate -accepted .ci/vuln-accepted < "$out"
