import type ivm from "isolated-vm";

/**
 * V8 code cache produced by this process's own compiles, keyed by version and file. It is
 * never fed from outside (cached data is code), so a tenant cannot smuggle bytecode in.
 */
export class CompileCache {
  private readonly entries = new Map<string, ivm.ExternalCopy<ArrayBuffer>>();

  constructor(private readonly maxEntries = 5000) {}

  get(id: string): ivm.ExternalCopy<ArrayBuffer> | undefined {
    const hit = this.entries.get(id);
    if (hit) {
      // Refresh recency: Map iteration order is insertion order, so re-insert on use.
      this.entries.delete(id);
      this.entries.set(id, hit);
    }
    return hit;
  }

  set(id: string, data: ivm.ExternalCopy<ArrayBuffer>): void {
    this.entries.set(id, data);
    if (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.get(oldest)?.release();
      this.entries.delete(oldest);
    }
  }

  /** Forgets every entry of one plugin version (its code was replaced or uninstalled). */
  dropVersion(versionId: string): void {
    for (const [id, data] of this.entries) {
      if (id.startsWith(`${versionId}:`)) {
        data.release();
        this.entries.delete(id);
      }
    }
  }
}
