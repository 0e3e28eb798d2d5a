#!/usr/bin/env node
// Entry point of the mcpc command; the implementation is compiled TypeScript in dist/.
import { main } from '../dist/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
