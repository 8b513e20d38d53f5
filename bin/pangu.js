#!/usr/bin/env node
// Entry point of the `pangu` command: the compiled CLI lives in dist/ (built by `npm install`).
import { main } from '../dist/src/cli/main.js';
main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
