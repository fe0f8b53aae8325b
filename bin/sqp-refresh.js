#!/usr/bin/env node
// The `sqp-refresh` command. The service runs from its TypeScript sources through tsx
// (a dependency), so that `npm install && npm start` needs no build step.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli.ts');
