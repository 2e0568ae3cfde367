#!/bin/sh
# Install the Debian packages listed in a file (one per line, '#' starts a
# comment). The Dockerfile runs it for docker/build-packages.txt in the builder
# and docker/runtime-packages.txt in the runtime stage. An empty list installs
# nothing and does not even download the package index.
#
# Versions are not pinned on purpose: Debian stable only publishes security and
# bug fixes, and superseded versions leave the mirror, so pins break rebuilds.
# The base image (pin its digest) is what makes builds repeatable.
set -eu

packages=$(sed -e 's/#.*//' "$1" | tr -s ' \t\n' ' ' | sed -e 's/^ //' -e 's/ $//')
if [ -z "$packages" ]; then
    exit 0
fi
apt-get update
# --no-install-recommends: only hard dependencies, not suggested extras.
# shellcheck disable=SC2086 # the list must split into one word per package
apt-get install -y --no-install-recommends $packages
