#!/usr/bin/env -S node --max-semi-space-size=1 --v8-pool-size=1
// --max-semi-space-size=1: V8's young generation stays at 1 MB instead of growing to ~16 MB during
// generation; allocations per token are small and short-lived, so the larger space only adds RSS.
// --v8-pool-size=1: one V8 background thread (compilers, GC) instead of one per core; each kept
// its own malloc arena after compiling the kernels (-10 to -14 MB of peak RSS, no slower here:
// the compute runs on our own worker threads).
// Entry point of the `pangu` command: the compiled CLI lives in dist/ (built by `npm install`).
import { main } from '../dist/src/cli/main.js';
main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
