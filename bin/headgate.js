#!/usr/bin/env node
// Launcher: registers tsx in-process so `npx headgate` runs the TypeScript CLI without a build
// step and without a wrapper process that would swallow signals or exit codes.
import { register } from 'tsx/esm/api';
// --no-color must act before any module picks its colours at import time (picocolors does).
if (process.argv.includes('--no-color')) process.env.NO_COLOR = '1';
register();
await import('../harness/cli/main.ts');
