/**
 * Coalesces calls made close together into one batch call: `add(x)` resolves with the batch
 * function's answer for x. A batch goes when `maxSize` items are waiting or `delayMs` after its
 * first item. Used where one statement for many rows beats one statement per row.
 */
export class Batcher<I, O> {
  private items: I[] = [];
  private waiters: { resolve: (o: O) => void; reject: (e: unknown) => void }[] = [];
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly run: (items: I[]) => Promise<O[]>,
    private readonly opts: { maxSize: number; delayMs: number },
  ) {}

  add(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.items.push(item);
      this.waiters.push({ resolve, reject });
      if (this.items.length >= this.opts.maxSize) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.opts.delayMs);
    });
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const items = this.items;
    const waiters = this.waiters;
    this.items = [];
    this.waiters = [];
    if (!items.length) return;
    this.run(items).then(
      (out) => waiters.forEach((w, i) => w.resolve(out[i])),
      (err) => waiters.forEach((w) => w.reject(err)),
    );
  }
}
