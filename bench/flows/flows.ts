// The same flows behind a TypeScript entrypoint (`worker.ts --typescript`): what a job pays to
// load a `.ts` flow that imports the SDK, as most users' flows do.
export { nap, noop } from './flows.mjs';
