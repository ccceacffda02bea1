/**
 * apps/cli: the `drover` binary as shipped (`bin: { drover: ./dist/main.js }`). `node apps/cli`
 * runs it from a clone; all the behaviour lives in @drover/cli.
 *
 * @example
 * node apps/cli deployment ls --json
 */
export { run } from '@drover/cli';
