#!/usr/bin/env node
// The `nexusflow` command (package.json "bin"): runs the TypeScript CLI through tsx, as every process here does.
import { register } from 'tsx/esm/api';

register();
await import('./nexusflow.ts');
