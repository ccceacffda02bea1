#!/usr/bin/env node
/**
 * apps/cli: the `drover` binary run from this repository (`node apps/cli`). The entry itself
 * (signals, exit code) is @drover/cli's own bin, so the command a user installs with
 * `npm i -g @drover/cli` and this one are the same code.
 *
 * @example
 * node apps/cli deployment ls --json
 */
import '@drover/cli/bin';
