// A group commit that tells the metrics how many messages each commit carried and how long it
// took, without the store knowing about metrics.
import { GroupCommit } from '../store/group-commit.js';

export class TimedGroupCommit extends GroupCommit {
  constructor(
    store: ConstructorParameters<typeof GroupCommit>[0],
    options: ConstructorParameters<typeof GroupCommit>[1],
    private readonly observe: (messages: number, seconds: number) => void,
  ) {
    super(store, options);
  }

  override flush(): void {
    const jobs = this.jobs;
    const started = process.hrtime.bigint();
    super.flush();
    const messages = this.jobs - jobs;
    if (messages > 0) this.observe(messages, Number(process.hrtime.bigint() - started) / 1e9);
  }
}
