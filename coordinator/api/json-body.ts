// JSON bodies for the small API routes: a body in any other content type is a 415, not a
// confusing "expected object".
import type { NextFunction, Request, Response } from 'express';
import express from 'express';
import { ApiError } from './api-error.js';

export function jsonBody(limit: string) {
  const parse = express.json({ limit });
  return (req: Request, res: Response, next: NextFunction): void => {
    const length = req.headers['content-length'];
    const hasBody = (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
    if (hasBody && !req.is('application/json')) throw new ApiError('unsupported_media_type', 'send the body as application/json');
    parse(req, res, next);
  };
}
