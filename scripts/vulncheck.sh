#!/usr/bin/env bash
# govulncheck over the whole module, against a pinned copy of the Go
# vulnerability database, gated by .ci/vuln-accepted.
#
# The database is not fetched from vuln.go.dev (which these machines cannot
# reach): it is built from golang.org/x/vulndb's OSV files, a module the Go
# module proxy serves, with that repository's own indexer. Pinning both the
# scanner and the database makes a run repeatable; moving VULNDB_VERSION to a
# newer pseudo-version is how the project learns of new advisories.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
GOVULNCHECK_VERSION=${GOVULNCHECK_VERSION:-v1.9.0}
VULNDB_VERSION=${VULNDB_VERSION:-v0.0.0-20261105234957-e22db6528018}
db=build/vulndb/$VULNDB_VERSION

if [ ! -f "$db/index/modules.json" ]; then
  src=$($GO mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$src/data/osv" ] || { echo "vulncheck: golang.org/x/vulndb@$VULNDB_VERSION has no data/osv" >&2; exit 2; }
  rm -rf "$db.tmp" && mkdir -p "$(dirname "$db")"
  echo "vulncheck: indexing $(ls "$src/data/osv" | wc -l) advisories of golang.org/x/vulndb@$VULNDB_VERSION"
  $GO run "golang.org/x/vulndb/cmd/indexdb@$VULNDB_VERSION" -vulns "$src/data/osv" -out "$db.tmp"
  mv "$db.tmp" "$db"
fi

out=build/vulndb/govulncheck.json
$GO run "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION" -db "file://$PWD/$db" -format json ./... > "$out"
$GO run ./internal/tools/vulngate -accepted .ci/vuln-accepted < "$out"
