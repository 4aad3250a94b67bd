// Cross-origin access to what volunteers use over HTTP (the discovery document, files, app
// versions, output uploads, readiness), so that a volunteer page served by one instance can work
// with another (--cluster-urls). Any origin may: nothing here is authorized by a cookie (an upload
// carries the host's signature in its headers, and no Allow-Credentials is sent, so a browser
// attaches no cookie), so another site gains nothing it could not do from its own server.
import type { NextFunction, Request, Response } from 'express';

const ALLOWED_HEADERS = 'content-type, x-vg-host-key, x-vg-task-id, x-vg-signature';

export function volunteerCors(req: Request, res: Response, next: NextFunction): void {
  res.setHeader('Access-Control-Allow-Origin', '*');
  if (req.method === 'OPTIONS') {
    res.setHeader('Access-Control-Allow-Methods', 'GET, HEAD, PUT');
    res.setHeader('Access-Control-Allow-Headers', ALLOWED_HEADERS);
    res.setHeader('Access-Control-Max-Age', '86400');
    res.status(204).end();
    return;
  }
  next();
}
