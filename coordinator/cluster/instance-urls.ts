// `--cluster-urls`: the public URLs of every instance of this coordinator, which the discovery
// document lists so that volunteers spread over the instances and fail over between them
// (docs/protocol.md §2). Checked at start: a URL a volunteer cannot use would strand the hosts
// that pick it.
import { z } from 'zod';
import { instanceOrigin, MAX_INSTANCES } from '../../protocol/discovery.js';

/** A comma-separated list (or an array) of origins, normalized; each once. */
export const InstanceUrlsSchema = z.union([z.string(), z.array(z.string())]).transform((value, ctx): string[] => {
  const entries = (typeof value === 'string' ? value.split(',') : value).map((e) => e.trim()).filter((e) => e !== '');
  if (entries.length === 0) {
    ctx.addIssue({ code: 'custom', message: 'list at least one instance URL, e.g. https://grid1.example.org,https://grid2.example.org' });
    return z.NEVER;
  }
  if (entries.length > MAX_INSTANCES) {
    ctx.addIssue({ code: 'custom', message: `at most ${MAX_INSTANCES} instance URLs` });
    return z.NEVER;
  }
  const origins: string[] = [];
  for (const entry of entries) {
    const parsed = instanceOrigin(entry);
    if ('error' in parsed) {
      ctx.addIssue({ code: 'custom', message: parsed.error });
      return z.NEVER;
    }
    if (origins.includes(parsed.origin)) {
      ctx.addIssue({ code: 'custom', message: `${parsed.origin} is listed twice` });
      return z.NEVER;
    }
    origins.push(parsed.origin);
  }
  return origins;
});
