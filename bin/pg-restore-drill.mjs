#!/usr/bin/env node
// Runs the TypeScript CLI as it is in the repository: tsx compiles on the fly on Node 20, where Node
// cannot strip types yet.
import { register } from 'tsx/esm/api';

register();
await import('../lib/cli.ts');
