// Reads a multipart/form-data upload (app version files) into memory within limits.
import type { Request } from 'express';
import busboy from 'busboy';
import { MAX_APP_FILES, MAX_FILE_BYTES } from '../../protocol/limits.js';
import { ApiError } from './api-error.js';

/** All files of one app version together. */
export const MAX_UPLOAD_BYTES = 256 * 1024 * 1024;
/** Part headers, boundaries and fields around the files. */
const MAX_FRAMING_BYTES = 4 * 1024 * 1024;

export interface Upload {
  fields: Record<string, string>;
  files: { field: string; name: string; bytes: Uint8Array }[];
}

export function readMultipart(req: Request): Promise<Upload> {
  if (!req.is('multipart/form-data')) {
    return Promise.reject(new ApiError('unsupported_media_type', 'send the files as multipart/form-data (one part named "files" per file)'));
  }
  if ((req.headers['content-encoding'] ?? 'identity').trim().toLowerCase() !== 'identity') {
    return Promise.reject(new ApiError('unsupported_media_type', 'send the files uncompressed (no Content-Encoding)'));
  }
  // Refused before a byte is read: more than the files may add up to, with room for the framing.
  if (Number(req.headers['content-length']) > MAX_UPLOAD_BYTES + MAX_FRAMING_BYTES) {
    req.resume();
    return Promise.reject(new ApiError('too_large', `an app version's files add up to at most ${MAX_UPLOAD_BYTES} bytes`));
  }
  return new Promise((resolve, reject) => {
    const fields: Record<string, string> = {};
    const files: Upload['files'] = [];
    let total = 0;
    let failed = false;
    const fail = (e: ApiError) => {
      if (failed) return;
      failed = true;
      req.unpipe(bb);
      req.resume();
      reject(e);
    };
    let bb: busboy.Busboy;
    try {
      bb = busboy({ headers: req.headers, preservePath: true, limits: { files: MAX_APP_FILES, fileSize: MAX_FILE_BYTES, fields: 20, fieldSize: 64 * 1024 } });
    } catch (e) {
      reject(new ApiError('bad_request', `bad multipart body: ${(e as Error).message}`));
      return;
    }
    bb.on('file', (field, stream, info) => {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => {
        total += chunk.length;
        if (total > MAX_UPLOAD_BYTES) fail(new ApiError('too_large', `an app version's files add up to at most ${MAX_UPLOAD_BYTES} bytes`));
        else chunks.push(chunk);
      });
      stream.on('error', (e: Error) => fail(new ApiError('bad_request', `bad multipart body: ${e.message}`)));
      stream.on('limit', () => fail(new ApiError('too_large', `file "${info.filename}" is larger than ${MAX_FILE_BYTES} bytes`)));
      stream.on('end', () => files.push({ field, name: info.filename ?? '', bytes: new Uint8Array(Buffer.concat(chunks)) }));
    });
    bb.on('field', (name, value, info) => {
      if (info.valueTruncated) fail(new ApiError('too_large', `field "${name}" is too long`));
      fields[name] = value;
    });
    bb.on('filesLimit', () => fail(new ApiError('too_large', `an app version has at most ${MAX_APP_FILES} files`)));
    bb.on('fieldsLimit', () => fail(new ApiError('too_large', 'too many fields')));
    bb.on('error', (e: Error) => fail(new ApiError('bad_request', `bad multipart body: ${e.message}`)));
    bb.on('close', () => {
      if (!failed) resolve({ fields, files });
    });
    req.on('close', () => {
      if (!req.complete) fail(new ApiError('bad_request', 'the upload was cut off'));
    });
    req.pipe(bb);
  });
}
