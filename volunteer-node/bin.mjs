#!/usr/bin/env node
// The package bin `volunteer-grid-volunteer`: runs the daemon from its TypeScript sources.
import { register } from 'tsx/esm/api';

register();
await import('./main.ts');
