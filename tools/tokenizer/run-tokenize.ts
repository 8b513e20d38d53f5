// Runs `pangu tokenize` directly (node dist/tools/tokenizer/run-tokenize.js ARGS), for the tools
// in this folder to use while the main CLI does not dispatch to it.
import { runTokenize } from '../../src/cli/tokenize.js';

runTokenize(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
