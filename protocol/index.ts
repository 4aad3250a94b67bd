export * from './bytes.js';
export * from './canonical.js';
export * from './hash.js';
export * from './ed25519.js';
export * from './limits.js';
export * from './messages.js';
export * from './signing.js';
export * from './ledger.js';
