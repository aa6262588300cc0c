#!/usr/bin/env bash
# The crate's public API, listed in public-api.txt (checked in), so that every
# change to it shows up as a diff in review.
#
#   .ci/public-api.sh          regenerate the listing and compare: exit 1 with
#                              the diff if the API changed
#   .ci/public-api.sh --bless  regenerate and overwrite public-api.txt
#
# The listing is `cargo public-api` (rustdoc JSON, so it needs the nightly
# toolchain) with every feature on, for x86_64 Linux, without blanket impls
# (`-s`: `impl<T> From<T> for T` and the like, which say nothing about this
# crate). Auto traits (Send, Sync, Unpin, ...) stay in: losing one is a
# breaking change. Items are sorted, so the order is deterministic. Rustdoc's
# JSON and its rendering change with the nightly: if a new nightly alone
# changes the listing, re-bless it in a commit of its own.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_PUBLIC_API_VERSION=0.52.0
if ! cargo public-api --version 2>/dev/null | grep -qF "$CARGO_PUBLIC_API_VERSION"; then
    cargo install --locked cargo-public-api --version "$CARGO_PUBLIC_API_VERSION"
fi

mkdir -p target
fresh=target/public-api.txt
cargo public-api --all-features --target x86_64-unknown-linux-gnu -s --color never >"$fresh"

if [ "${1:-}" = "--bless" ]; then
    cp "$fresh" public-api.txt
    echo "public-api.txt updated ($(wc -l <public-api.txt) lines)"
    exit 0
fi

if ! diff -u public-api.txt "$fresh"; then
    echo
    echo "The public API changed (diff above: - listed in public-api.txt, + this tree)."
    echo "If the change is intended, run .ci/public-api.sh --bless and commit public-api.txt"
    echo "(and note the change in CHANGELOG.md)."
    echo "$(cargo +nightly --version) with cargo-public-api $CARGO_PUBLIC_API_VERSION."
    exit 1
fi
echo "public API unchanged ($(wc -l <public-api.txt) lines in public-api.txt)"
