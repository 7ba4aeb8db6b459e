#!/usr/bin/env node
// Launcher: registers tsx in-process so `npx headgate` runs the TypeScript CLI without a build
// step and without a wrapper process that would swallow signals or exit codes.
import { register } from 'tsx/esm/api';
register();
await import('../harness/cli/main.ts');
