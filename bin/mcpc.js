#!/usr/bin/env node
// Entry point of the mcpc command; the implementation is compiled TypeScript in dist/.
import { main } from '../dist/cli/main.js';

// A reader that stops early (`mcpc inspect m.mcp --json | head`) closes the pipe: that ends the
// output, it is not an error.
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});
process.exitCode = await main(process.argv.slice(2));
