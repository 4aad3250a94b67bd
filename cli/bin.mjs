#!/usr/bin/env node
// The package bin `volunteer-grid`: runs the researcher CLI from its TypeScript sources.
import { register } from 'tsx/esm/api';

register();
await import('./main.ts');
