#!/usr/bin/env bash
# Refresh the vendored charting library of the web screen (the served page needs no network).
#
# TradingView Lightweight Charts (Apache-2.0), from npm: its standalone ES module build, which
# bundles its one dependency, goes to static/vendor/ with the package's LICENSE and a
# README recording the version and checksum. The page imports it as
# /static/vendor/lightweight-charts.standalone.production.mjs.
#
#   src/isocross/web/vendor.sh            # the pinned version below
#   src/isocross/web/vendor.sh 5.2.1      # another version (then update VERSION here)
#
# Needs node/npm and the npm registry; nothing else in the project does.
set -euo pipefail

VERSION="${1:-5.2.1}"
HERE="$(cd "$(dirname "$0")" && pwd)"
DEST="$HERE/static/vendor"
FILE=lightweight-charts.standalone.production.mjs

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "lightweight-charts@$VERSION" >/dev/null)
tar -xzf "$work/lightweight-charts-$VERSION.tgz" -C "$work"
mkdir -p "$DEST"
cp "$work/package/dist/$FILE" "$DEST/$FILE"
cp "$work/package/LICENSE" "$DEST/lightweight-charts.LICENSE"
sum="$(sha256sum "$DEST/$FILE" | cut -d' ' -f1)"
cat > "$DEST/README.md" <<NOTE
# Vendored libraries

| file | package | version | license | sha256 |
|---|---|---|---|---|
| \`$FILE\` | [lightweight-charts](https://www.npmjs.com/package/lightweight-charts) (TradingView) | $VERSION | Apache-2.0 (\`lightweight-charts.LICENSE\`) | \`$sum\` |

Copied unchanged from the npm package's \`dist/\` by \`src/isocross/web/vendor.sh\` (run it again
to refresh). The standalone build bundles its dependency (fancy-canvas, MIT), so the page loads
no other script and needs no network.
NOTE
echo "vendored lightweight-charts $VERSION -> $DEST/$FILE ($sum)"
