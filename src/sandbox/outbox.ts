// Messages between the host and a sandbox process go out in batches: everything posted during
// one turn of the event loop is written at its end as one IPC message. Under load, many calls
// start and finish in the same turn, and each IPC message is its own write to the pipe (a
// system call); profiled at c=32, those writes were the largest single cost of an /ext request
// in the API process. A lone message is written as it is, so a quiet node pays nothing extra.

export interface BatchMessage<T> {
  t: "batch";
  messages: T[];
}

export class Outbox<T> {
  private queue: T[] = [];
  private scheduled = false;

  /** `write` sends one IPC message (it may throw once the channel is closed; the batch is then lost, as a lone message would be). */
  constructor(private readonly write: (msg: T | BatchMessage<T>) => void) {}

  post(msg: T): void {
    this.queue.push(msg);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.flush);
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const messages = this.queue;
    this.queue = [];
    if (messages.length === 1) this.write(messages[0]);
    else if (messages.length > 1) this.write({ t: "batch", messages });
  };
}

/** Hands each message of a batch (or the one message) to `handle`, in the order posted. */
export function eachMessage<T extends { t: string }>(msg: T | BatchMessage<T>, handle: (msg: T) => void): void {
  if (msg.t !== "batch") return handle(msg as T);
  for (const m of (msg as BatchMessage<T>).messages) handle(m);
}
