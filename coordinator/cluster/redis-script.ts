// Runs a Lua script on Redis by its hash, loading it the first time a server sees it (or after a
// restart emptied its script cache). Scripts run atomically, by Redis's clock, so instances whose
// clocks differ still agree.
import { createHash } from 'node:crypto';

/** What a script needs of a Redis client (node-redis v5's, or anything with the same calls). */
export interface ScriptRunner {
  evalSha(sha: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
}

export class RedisScript {
  private readonly sha: string;

  constructor(private readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(redis: ScriptRunner, keys: string[], args: string[]): Promise<unknown> {
    const options = { keys, arguments: args };
    try {
      return await redis.evalSha(this.sha, options);
    } catch (error) {
      if (!String((error as Error).message).includes('NOSCRIPT')) throw error;
      return await redis.eval(this.source, options);
    }
  }
}
